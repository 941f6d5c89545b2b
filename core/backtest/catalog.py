"""Write the desk's trade ticks into a Nautilus ``ParquetDataCatalog`` without tick objects.

``catalog.write_data(list_of_TradeTick)`` builds one Python object per tick and took 30 s for
5M ticks; the backtest reads the catalog back through Nautilus's Rust reader, which only cares
about the parquet file. So ``core.backtest.catalog_arrow`` builds the very table Nautilus's
serializer would build (128-bit fixed-point price/size, u8 aggressor, u64 timestamps, the same
schema metadata) with NumPy and pyarrow, and this module writes it where and as ``write_data``
would, so ``catalog.query`` and a ``BacktestNode`` streaming with ``chunk_size`` read it as their
own. The tests check the file is byte-for-byte the one ``write_data`` writes.

``core.backtest.catalog_arrow`` holds copies of Nautilus's constants so that the conversion worker
need not import Nautilus; importing this module checks them against the installed Nautilus.
"""

from __future__ import annotations

import inspect

import nautilus_trader
import pyarrow as pa
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import (
    FIXED_PRECISION,
    HIGH_PRECISION,
    PRICE_MAX,
    QUANTITY_MAX,
)
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.funcs import class_to_filename

from core.backtest import catalog_arrow
from core.backtest.catalog_arrow import (
    NAUTILUS_TRADE_SCHEMA,
    TRADE_ID_MAX_CHARS,
    to_fixed_binary,
    trade_tick_file_name,
)
from core.storage.roots import resolve

__all__ = [
    "NAUTILUS_TRADE_SCHEMA",
    "TRADE_ID_MAX_CHARS",
    "open_catalog",
    "to_fixed_binary",
    "to_nautilus_trade_table",
    "trade_tick_directory",
    "trade_tick_file_name",
    "write_trade_ticks",
]


def _check_format_constants() -> None:
    # The layout is 1.231.0's high-precision build (128-bit raw values, 16 decimals); a
    # standard-precision build stores 64-bit values and would need another writer.
    if not HIGH_PRECISION:
        raise ImportError(
            "core.backtest.catalog needs a high-precision NautilusTrader build (16 decimals)"
        )
    catalog_parameters = inspect.signature(ParquetDataCatalog.__init__).parameters
    theirs = {
        "FIXED_PRECISION": FIXED_PRECISION,
        "PRICE_MAX": PRICE_MAX,
        "QUANTITY_MAX": QUANTITY_MAX,
        "BUYER": AggressorSide.BUYER.value,
        "SELLER": AggressorSide.SELLER.value,
        "TRADE_TICK_FOLDER": class_to_filename(TradeTick),
        "MAX_ROWS_PER_GROUP": catalog_parameters["max_rows_per_group"].default,
    }
    for name, value in theirs.items():
        ours = getattr(catalog_arrow, name)
        if ours != value:
            raise ImportError(
                f"core.backtest.catalog_arrow.{name} is {ours!r} but NautilusTrader "
                f"{nautilus_trader.__version__} has {value!r}: its catalog format changed, "
                "update core/backtest/catalog_arrow.py"
            )


_check_format_constants()


def open_catalog(url: str) -> ParquetDataCatalog:
    """Open (or start) the catalog at ``url``, a local folder or a remote (``gs://``) root.

    Goes through ``core.storage.roots.resolve`` so the catalog lives exactly where the desk's other
    files name it, whatever the filesystem (``ParquetDataCatalog.from_uri`` drops the first
    path segment of some URLs, e.g. ``memory://``).
    """
    fs, path = resolve(url)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return ParquetDataCatalog(path)
    return ParquetDataCatalog(
        path, fs_protocol=protocol, fs_storage_options=dict(fs.storage_options)
    )


def trade_tick_directory(catalog: ParquetDataCatalog, instrument_id: str) -> str:
    """Folder of one instrument's TradeTick files: ``{catalog}/data/trade_tick/{id}``."""
    return catalog_arrow.trade_tick_directory(catalog.path, instrument_id)


def to_nautilus_trade_table(instrument: Instrument, table: pa.Table) -> pa.Table:
    """The arrow table Nautilus's serializer would build for these trades of ``instrument``.

    ``core.backtest.catalog_arrow.nautilus_trade_table`` with the id and precisions read from
    ``instrument``; see there for the table's schema and metadata, and the ``DataError`` a
    bad trade raises.
    """
    return catalog_arrow.nautilus_trade_table(
        instrument.id.value, instrument.price_precision, instrument.size_precision, table
    )


def write_trade_ticks(catalog: ParquetDataCatalog, instrument: Instrument, table: pa.Table) -> int:
    """Write one chunk of ``instrument``'s trades as one catalog file, as ``write_data`` would.

    Call it once per day or chunk. The file lands in ``data/trade_tick/{instrument_id}/``,
    named from its first and last timestamps and written with the catalog's filesystem and
    ``max_rows_per_group``. Unlike ``write_data``, which prints and skips a file that already
    exists, an existing file or an interval overlapping another file of the instrument is an
    error: a silent skip would leave a backtest without data it was given.

    Parameters
    ----------
    catalog : ParquetDataCatalog
        Where to write; its ``fs`` may be local or remote.
    instrument : Instrument
        The instrument the trades belong to (id and precisions).
    table : pa.Table
        The desk's trades (``core.data.layout.TRADE_SCHEMA``), ``ts_event`` non-decreasing.

    Returns
    -------
    int
        Ticks written; 0 for an empty table, which writes nothing.

    Raises
    ------
    DataError
        On an invalid table (see ``to_nautilus_trade_table``), or when the chunk's interval
        overlaps a file already in the catalog for this instrument.
    """
    instrument_id = instrument.id.value
    written = catalog_arrow.write_trade_file(
        catalog.fs,
        catalog.path,
        instrument_id,
        instrument.price_precision,
        instrument.size_precision,
        table,
        catalog.get_intervals(TradeTick, instrument_id),
        catalog.max_rows_per_group,
    )
    return 0 if written is None else written.ticks
