"""Write the desk's trade ticks into a Nautilus ``ParquetDataCatalog`` without tick objects.

``catalog.write_data(list_of_TradeTick)`` builds one Python object per tick and took 30 s for
5M ticks; the backtest reads the catalog back through Nautilus's Rust reader, which only cares
about the parquet file. So this module builds the very table Nautilus's serializer would build
(128-bit fixed-point price/size, u8 aggressor, u64 timestamps, the same schema metadata) with
NumPy and pyarrow, and writes it where and as ``write_data`` would, so ``catalog.query`` and a
``BacktestNode`` streaming with ``chunk_size`` read it as their own. The tests check the file is
byte-for-byte the one ``write_data`` writes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.core.datetime import unix_nanos_to_iso8601
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
from nautilus_trader.persistence.funcs import class_to_filename, urisafe_identifier

from core.errors import DataError
from core.layout import TRADE_SCHEMA
from core.storage import resolve

# The layout below is 1.231.0's high-precision build (128-bit raw values, 16 decimals);
# a standard-precision build stores 64-bit values and would need another writer.
if not HIGH_PRECISION or FIXED_PRECISION != 16:
    raise ImportError("core.catalog needs a high-precision NautilusTrader build (16 decimals)")

# Nautilus's TradeId: 1 to 36 ASCII characters, not all blank. A non-ASCII one aborts the
# process (a Rust panic) when read back, so it must be refused before it is written.
TRADE_ID_MAX_CHARS = 36

# Schema of the table Nautilus's Rust serializer produces for TradeTick (metadata added per
# instrument). Field order, types and nullability are what its reader checks.
NAUTILUS_TRADE_SCHEMA = pa.schema(
    [
        pa.field("price", pa.binary(16), nullable=False),
        pa.field("size", pa.binary(16), nullable=False),
        pa.field("aggressor_side", pa.uint8(), nullable=False),
        pa.field("trade_id", pa.string(), nullable=False),
        pa.field("ts_event", pa.uint64(), nullable=False),
        pa.field("ts_init", pa.uint64(), nullable=False),
    ]
)

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def open_catalog(url: str) -> ParquetDataCatalog:
    """Open (or start) the catalog at ``url``, a local folder or a remote (``gs://``) root.

    Goes through ``core.storage.resolve`` so the catalog lives exactly where the desk's other
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
    safe_id = urisafe_identifier(instrument_id)
    return f"{catalog.path.rstrip('/')}/data/{class_to_filename(TradeTick)}/{safe_id}"


def trade_tick_file_name(first_ts: int, last_ts: int) -> str:
    """File name Nautilus gives a chunk, from its first and last ``ts_init``.

    ``2021-01-08T00-00-00-278000000Z_2021-01-08T00-00-46-355000000Z.parquet``: the catalog
    reads the interval back from the name to skip files outside a query.
    """

    def stamp(ts: int) -> str:
        return unix_nanos_to_iso8601(ts).replace(":", "-").replace(".", "-")

    return f"{stamp(first_ts)}_{stamp(last_ts)}.parquet"


def to_fixed_binary(values: np.ndarray, precision: int) -> pa.FixedSizeBinaryArray:
    """Nautilus raw fixed-point values of positive ``values``, as little-endian int128 bytes.

    Rounds exactly as ``Price(x, precision)`` / ``Quantity(x, precision)`` do in Rust:
    ``(x * 10**precision).round()`` in f64, half away from zero (not half-even: 0.125 at 2
    decimals is 0.13), then scaled by ``10**(16 - precision)`` in integers.

    Parameters
    ----------
    values : np.ndarray
        Finite, positive float64 values whose scaled form fits 64 bits (checked by the caller).
    precision : int
        Decimals, 0 to 16.

    Returns
    -------
    pa.FixedSizeBinaryArray
    """
    scaled = np.asarray(values, dtype=np.float64) * float(10**precision)
    floor = np.floor(scaled)
    # x - floor(x) is exact in floating point, so the half test sees the true fraction
    # (floor(x + 0.5) would round 0.49999999999999994 up).
    rounded = (floor + (scaled - floor >= 0.5)).astype(np.uint64)
    low, high = _multiply_to_u128(rounded, 10 ** (FIXED_PRECISION - precision))
    pairs = np.empty((len(rounded), 2), dtype="<u8")
    pairs[:, 0] = low
    pairs[:, 1] = high
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(rounded), [None, pa.py_buffer(pairs)]
    )


def _multiply_to_u128(a: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    # NumPy has no 128-bit integers: schoolbook multiplication on 32-bit limbs, every partial
    # product fitting 64 bits, gives the exact low and high words of a * b.
    b0 = np.uint64(b & 0xFFFFFFFF)
    b1 = np.uint64(b >> 32)
    a0 = a & _MASK32
    a1 = a >> _SHIFT32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    middle = (p00 >> _SHIFT32) + (p01 & _MASK32) + (p10 & _MASK32)
    low = (p00 & _MASK32) | (middle << _SHIFT32)
    high = p11 + (p01 >> _SHIFT32) + (p10 >> _SHIFT32) + (middle >> _SHIFT32)
    return low, high


def _check_schema(table: pa.Table, source: str) -> None:
    for field in TRADE_SCHEMA:
        if field.name not in table.column_names:
            raise DataError(f"trade table has no column '{field.name}'", source)
        actual = table.schema.field(field.name).type
        if actual != field.type:
            raise DataError(f"column '{field.name}' is {actual}, expected {field.type}", source)
        if table.column(field.name).null_count > 0:
            raise DataError(f"column '{field.name}' has nulls", source)


def _bools(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    # Arrow packs booleans in bits, so NumPy needs a copy.
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return mask.to_numpy(zero_copy_only=False)


def _first_bad(mask: np.ndarray) -> int | None:
    bad = np.flatnonzero(mask)
    return None if len(bad) == 0 else int(bad[0])


def _check_values(
    name: str, values: np.ndarray, precision: int, limit: float, ts: np.ndarray, source: str
) -> None:
    with np.errstate(invalid="ignore"):
        row = _first_bad(~(np.isfinite(values) & (values > 0)))
    if row is not None:
        raise DataError(
            f"{name} {values[row]} at ts_event {ts[row]} is not a positive finite number", source
        )
    scaled = values * float(10**precision)
    row = _first_bad(scaled < 0.5)
    if row is not None:
        raise DataError(
            f"{name} {values[row]} at ts_event {ts[row]} rounds to 0 at precision {precision}",
            source,
        )
    # Nautilus's own bound, and the 64 bits the scaled value must fit before widening.
    row = _first_bad((values > limit) | (scaled >= 2.0**64))
    if row is not None:
        raise DataError(
            f"{name} {values[row]} at ts_event {ts[row]} is too large for Nautilus "
            f"(max {limit:g} at precision {precision})",
            source,
        )


def _aggressor_codes(side: pa.ChunkedArray, ts: np.ndarray, source: str) -> pa.Array:
    is_buy = _bools(pc.equal(side, "BUY"))
    is_sell = _bools(pc.equal(side, "SELL"))
    row = _first_bad(~(is_buy | is_sell))
    if row is not None:
        raise DataError(
            f"side '{side[row].as_py()}' at ts_event {ts[row]} is not BUY or SELL", source
        )
    codes = np.where(is_buy, AggressorSide.BUYER.value, AggressorSide.SELLER.value)
    return pa.array(codes.astype(np.uint8), type=pa.uint8())


def _checked_trade_ids(trade_id: pa.ChunkedArray, ts: np.ndarray, source: str) -> pa.Array:
    ids = trade_id.combine_chunks()
    length = pc.binary_length(ids).to_numpy()
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(ids)), 0)
    ascii_only = pc.string_is_ascii(ids)
    bad = (length > TRADE_ID_MAX_CHARS) | _bools(blank) | ~_bools(ascii_only)
    row = _first_bad(bad)
    if row is not None:
        raise DataError(
            f"trade_id {ids[row].as_py()!r} at ts_event {ts[row]} is not 1 to "
            f"{TRADE_ID_MAX_CHARS} ASCII characters",
            source,
        )
    return ids


def to_nautilus_trade_table(instrument: Instrument, table: pa.Table) -> pa.Table:
    """The arrow table Nautilus's serializer would build for these trades of ``instrument``.

    Parameters
    ----------
    instrument : Instrument
        Gives the id and the price/size precisions the raw values are rounded to.
    table : pa.Table
        The desk's trades (``core.layout.TRADE_SCHEMA``), ``ts_event`` non-decreasing.

    Returns
    -------
    pa.Table
        ``NAUTILUS_TRADE_SCHEMA`` with ``instrument_id``, ``price_precision`` and
        ``size_precision`` schema metadata; ``ts_init`` equals ``ts_event``.

    Raises
    ------
    DataError
        On a wrong schema, nulls, unsorted timestamps, a non-finite or non-positive price or
        size, an unknown side or an invalid trade id (naming the instrument and the ts_event).
    """
    source = instrument.id.value
    _check_schema(table, source)
    ts = table.column("ts_event").to_numpy()
    row = _first_bad(ts < 0)
    if row is not None:
        raise DataError(f"ts_event {ts[row]} is before 1970", source)
    row = _first_bad(np.diff(ts) < 0)
    if row is not None:
        raise DataError(f"ts_event {ts[row + 1]} comes after {ts[row]}: not sorted", source)
    price = table.column("price").to_numpy()
    size = table.column("size").to_numpy()
    _check_values("price", price, instrument.price_precision, PRICE_MAX, ts, source)
    _check_values("size", size, instrument.size_precision, QUANTITY_MAX, ts, source)
    ts_u64 = pa.array(ts.astype(np.uint64), type=pa.uint64())
    columns = [
        to_fixed_binary(price, instrument.price_precision),
        to_fixed_binary(size, instrument.size_precision),
        _aggressor_codes(table.column("side"), ts, source),
        _checked_trade_ids(table.column("trade_id"), ts, source),
        ts_u64,
        ts_u64,
    ]
    # Same keys in the same order as the Rust serializer, so the parquet footer matches.
    metadata = {
        "instrument_id": source,
        "price_precision": str(instrument.price_precision),
        "size_precision": str(instrument.size_precision),
    }
    return pa.Table.from_arrays(columns, schema=NAUTILUS_TRADE_SCHEMA.with_metadata(metadata))


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
        The desk's trades (``core.layout.TRADE_SCHEMA``), ``ts_event`` non-decreasing.

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
    _check_schema(table, instrument.id.value)
    if table.num_rows == 0:
        return 0
    nautilus_table = to_nautilus_trade_table(instrument, table)
    ts = table.column("ts_event")
    first, last = int(ts[0].as_py()), int(ts[-1].as_py())
    instrument_id = instrument.id.value
    directory = trade_tick_directory(catalog, instrument_id)
    path = f"{directory}/{trade_tick_file_name(first, last)}"
    for start, end in catalog.get_intervals(TradeTick, instrument_id):
        if start <= last and first <= end:
            raise DataError(
                f"ticks {first}..{last} overlap the catalog's file for {start}..{end}", path
            )
    try:
        catalog.fs.mkdirs(directory, exist_ok=True)
        pq.write_table(
            nautilus_table,
            where=path,
            filesystem=catalog.fs,
            row_group_size=catalog.max_rows_per_group,
        )
    except (OSError, pa.ArrowException) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"cannot write the catalog file ({reason})", path) from error
    return table.num_rows
