"""Nautilus's TradeTick catalog format as plain pyarrow and NumPy, without importing Nautilus.

The conversion worker only writes parquet files; importing NautilusTrader would cost it about
250 MB and half a second of startup for nothing. So the format lives here: the schema, the
128-bit fixed-point values, the folder and file names a ``ParquetDataCatalog`` expects, and a
writer that puts one file where ``catalog.write_data`` would. The constants are copies of
Nautilus 1.231.0's: ``core.backtest.catalog`` checks them against the installed Nautilus when
imported, and its tests check the files are byte for byte the ones Nautilus writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from core.data.layout import TRADE_SCHEMA, require_columns
from core.errors import DataError

# Nautilus's high-precision build: raw values are 128-bit integers with 16 decimals.
FIXED_PRECISION = 16
# Nautilus's largest Price and Quantity (nautilus_trader.model.objects).
PRICE_MAX = 17_014_118_346_046.0
QUANTITY_MAX = 34_028_236_692_093.0
# AggressorSide values as Nautilus stores them in the u8 column.
BUYER = 1
SELLER = 2
# ``class_to_filename(TradeTick)``: the catalog's folder for trade ticks.
TRADE_TICK_FOLDER = "trade_tick"
# ``ParquetDataCatalog``'s default ``max_rows_per_group``: part of the file's bytes.
MAX_ROWS_PER_GROUP = 5_000

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
_NANOS_PER_SECOND = 1_000_000_000
_EPOCH = dt.datetime(1970, 1, 1)
# Nautilus formats a timestamp through a signed 64-bit nanosecond count; a larger one comes
# back as the bare number.
_I64_MAX = 2**63 - 1
_U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class TradeFile:
    """One catalog file written: where, the ``ts_init`` interval its name gives, and its rows."""

    path: str
    start: int
    end: int
    ticks: int


def unix_nanos_to_iso8601(unix_nanos: int) -> str:
    """Nautilus's ``unix_nanos_to_iso8601``: RFC 3339 in UTC with nine decimals.

    ``2021-01-08T00:00:46.355000000Z``, decimals kept even on a whole second, because the
    catalog parses file names back into intervals and must read what Nautilus itself writes.

    Parameters
    ----------
    unix_nanos : int
        Nanoseconds since the epoch, 0 to 2**64 - 1.

    Returns
    -------
    str
    """
    if not 0 <= unix_nanos <= _U64_MAX:
        raise ValueError(f"unix_nanos {unix_nanos} is not an unsigned 64-bit integer")
    if unix_nanos > _I64_MAX:
        return str(unix_nanos)
    seconds, nanos = divmod(unix_nanos, _NANOS_PER_SECOND)
    moment = _EPOCH + dt.timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def urisafe_identifier(identifier: str) -> str:
    """Nautilus's ``urisafe_identifier``: the id with its slashes dropped (``BTC/USD`` ...)."""
    return identifier.replace("/", "")


def trade_tick_directory(root: str, instrument_id: str) -> str:
    """Folder of one instrument's TradeTick files: ``{root}/data/trade_tick/{id}``."""
    safe_id = urisafe_identifier(instrument_id)
    return f"{root.rstrip('/')}/data/{TRADE_TICK_FOLDER}/{safe_id}"


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


def check_trade_schema(table: pa.Table, source: str) -> None:
    """Refuse a desk trade table that does not fit ``TRADE_SCHEMA`` (``source``: instrument)."""
    require_columns(table, TRADE_SCHEMA, source)


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
    codes = np.where(is_buy, BUYER, SELLER)
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


def nautilus_trade_table(
    instrument_id: str, price_precision: int, size_precision: int, table: pa.Table
) -> pa.Table:
    """The arrow table Nautilus's serializer would build for these trades of one instrument.

    Parameters
    ----------
    instrument_id : str
        Nautilus form (``BTCUSDT.BINANCE``); names the instrument in errors and metadata.
    price_precision, size_precision : int
        Decimals the raw price and size values are rounded to (the instrument's).
    table : pa.Table
        The desk's trades (``core.data.layout.TRADE_SCHEMA``), ``ts_event`` non-decreasing.

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
    source = instrument_id
    check_trade_schema(table, source)
    ts = table.column("ts_event").to_numpy()
    row = _first_bad(ts < 0)
    if row is not None:
        raise DataError(f"ts_event {ts[row]} is before 1970", source)
    row = _first_bad(np.diff(ts) < 0)
    if row is not None:
        raise DataError(f"ts_event {ts[row + 1]} comes after {ts[row]}: not sorted", source)
    price = table.column("price").to_numpy()
    size = table.column("size").to_numpy()
    _check_values("price", price, price_precision, PRICE_MAX, ts, source)
    _check_values("size", size, size_precision, QUANTITY_MAX, ts, source)
    ts_u64 = pa.array(ts.astype(np.uint64), type=pa.uint64())
    columns = [
        to_fixed_binary(price, price_precision),
        to_fixed_binary(size, size_precision),
        _aggressor_codes(table.column("side"), ts, source),
        _checked_trade_ids(table.column("trade_id"), ts, source),
        ts_u64,
        ts_u64,
    ]
    # Same keys in the same order as the Rust serializer, so the parquet footer matches.
    metadata = {
        "instrument_id": source,
        "price_precision": str(price_precision),
        "size_precision": str(size_precision),
    }
    return pa.Table.from_arrays(columns, schema=NAUTILUS_TRADE_SCHEMA.with_metadata(metadata))


def write_trade_file(
    fs: AbstractFileSystem,
    root: str,
    instrument_id: str,
    price_precision: int,
    size_precision: int,
    table: pa.Table,
    intervals: Iterable[tuple[int, int]],
    row_group_size: int = MAX_ROWS_PER_GROUP,
) -> TradeFile | None:
    """Write one chunk of an instrument's trades as one catalog file, as ``write_data`` would.

    The file lands in ``{root}/data/trade_tick/{instrument_id}/``, named from its first and
    last timestamps. Unlike ``write_data``, which prints and skips a file that already exists,
    an interval overlapping one already written is an error: a silent skip would leave a
    backtest without data it was given. The caller says which intervals are taken, so a
    writer that owns the catalog can keep count instead of listing the folder each time.

    Parameters
    ----------
    fs : AbstractFileSystem
        The catalog's filesystem; ``root`` is the catalog's path in it.
    root : str
        The catalog's folder.
    instrument_id, price_precision, size_precision
        The instrument the trades belong to (see ``nautilus_trade_table``).
    table : pa.Table
        The desk's trades (``core.data.layout.TRADE_SCHEMA``), ``ts_event`` non-decreasing.
    intervals : Iterable[tuple[int, int]]
        ``(first, last)`` timestamps of the instrument's files already in the catalog.
    row_group_size : int, default MAX_ROWS_PER_GROUP
        Rows per row group: the catalog's ``max_rows_per_group``.

    Returns
    -------
    TradeFile | None
        The file written; None for an empty table, which writes nothing.

    Raises
    ------
    DataError
        On an invalid table (see ``nautilus_trade_table``), when the chunk's interval overlaps
        one of ``intervals``, or when the file cannot be written.
    """
    check_trade_schema(table, instrument_id)
    if table.num_rows == 0:
        return None
    nautilus_table = nautilus_trade_table(instrument_id, price_precision, size_precision, table)
    ts = table.column("ts_event")
    first, last = int(ts[0].as_py()), int(ts[-1].as_py())
    directory = trade_tick_directory(root, instrument_id)
    path = f"{directory}/{trade_tick_file_name(first, last)}"
    for start, end in intervals:
        if start <= last and first <= end:
            raise DataError(
                f"ticks {first}..{last} overlap the catalog's file for {start}..{end}", path
            )
    try:
        fs.mkdirs(directory, exist_ok=True)
        pq.write_table(nautilus_table, where=path, filesystem=fs, row_group_size=row_group_size)
    except (OSError, pa.ArrowException) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"cannot write the catalog file ({reason})", path) from error
    return TradeFile(path=path, start=first, end=last, ticks=table.num_rows)
