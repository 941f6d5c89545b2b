"""The desk's data layout: where each file lives under a root, and the schema it must have.

The same layout holds under a local folder or a ``gs://bucket/prefix`` root::

    {root}/instrument_availability/by_date/day-YYYY-MM-DD/instruments.parquet
    {root}/raw_tick_data/by_date/day-YYYY-MM-DD/data_type-trades/{INSTRUMENT_ID}.parquet
    {root}/signals/by_date/day-YYYY-MM-DD/signals.parquet
    {results_root}/backtest_results/{run_id}/summary.json (+ four parquet files)

Schemas are declared once here; writers (demo data, results) and readers (tick reader,
instrument loader, signal loader) all check against them.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from fsspec import AbstractFileSystem

from core.errors import DataError
from core.storage.roots import join

INSTRUMENTS_DIR = "instrument_availability/by_date"
TRADES_DIR = "raw_tick_data/by_date"
SIGNALS_DIR = "signals/by_date"
RESULTS_DIR = "backtest_results"

INSTRUMENT_SCHEMA = pa.schema(
    [
        pa.field("instrument_id", pa.string(), nullable=False),  # Nautilus form: BTCUSDT.BINANCE
        pa.field("venue", pa.string(), nullable=False),  # BINANCE
        pa.field("symbol", pa.string(), nullable=False),  # BTCUSDT (BTCUSDT-PERP for perpetuals)
        pa.field("kind", pa.string(), nullable=False),  # "spot" or "perpetual"
        pa.field("base", pa.string(), nullable=False),  # BTC
        pa.field("quote", pa.string(), nullable=False),  # USDT
        pa.field("settlement", pa.string(), nullable=False),  # currency PnL settles in
        pa.field("tick_size", pa.float64(), nullable=False),  # price increment
        pa.field("lot_size", pa.float64(), nullable=False),  # size increment
        pa.field("price_precision", pa.int32(), nullable=False),  # decimals of tick_size
        pa.field("size_precision", pa.int32(), nullable=False),  # decimals of lot_size
        pa.field("min_quantity", pa.float64(), nullable=False),
        pa.field("max_quantity", pa.float64(), nullable=True),
        pa.field("min_notional", pa.float64(), nullable=False),  # in quote currency
        pa.field("maker_fee", pa.float64(), nullable=False),  # fraction: 0.001 = 10 bps
        pa.field("taker_fee", pa.float64(), nullable=False),
        pa.field("multiplier", pa.float64(), nullable=False),  # contract multiplier, 1 for spot
        pa.field("is_inverse", pa.bool_(), nullable=False),
    ]
)

TRADE_SCHEMA = pa.schema(
    [
        pa.field("ts_event", pa.int64(), nullable=False),  # ns since epoch, UTC, sorted ascending
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
        pa.field("side", pa.string(), nullable=False),  # aggressor: "BUY" or "SELL"
        pa.field("trade_id", pa.string(), nullable=False),  # unique per instrument
    ]
)
AGGRESSOR_SIDES = ("BUY", "SELL")

SIGNAL_SCHEMA = pa.schema(
    [
        pa.field("ts_event", pa.int64(), nullable=False),  # ns since epoch, UTC, sorted ascending
        pa.field("signal_id", pa.string(), nullable=False),  # one id per target set
        pa.field("strategy_id", pa.string(), nullable=False),
        pa.field("instrument_id", pa.string(), nullable=False),
        pa.field("target_weight", pa.float64(), nullable=False),  # fraction of equity, signed
    ]
)


def day_folder(day: dt.date) -> str:
    """``day-YYYY-MM-DD``: the folder name of one UTC day."""
    return f"day-{day.isoformat()}"


def instruments_path(root: str, day: dt.date) -> str:
    """Path of the instruments available on ``day`` under ``root`` (an fsspec path)."""
    return join(root, INSTRUMENTS_DIR, day_folder(day), "instruments.parquet")


def trades_path(root: str, day: dt.date, instrument_id: str) -> str:
    """Path of one instrument's trades on ``day`` under ``root`` (an fsspec path)."""
    return join(root, TRADES_DIR, day_folder(day), "data_type-trades", f"{instrument_id}.parquet")


def signals_path(root: str, day: dt.date) -> str:
    """Path of the strategy service's signals emitted on ``day`` under ``root``."""
    return join(root, SIGNALS_DIR, day_folder(day), "signals.parquet")


def results_path(root: str, run_id: str) -> str:
    """Folder of one backtest's result files under the results ``root``."""
    return join(root, RESULTS_DIR, run_id)


def missing_bucket_note(fs: AbstractFileSystem, path: str) -> str:
    """`` (bucket 'x' does not exist)`` when a missing file's bucket is missing, else ``""``.

    A missing day and a mistyped bucket both surface as a missing file; the fixes differ, so
    the error says which. Called only on the error path: it costs one request to the store.
    """
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    if not {"gs", "gcs", "s3", "s3a"} & set(protocols):
        return ""
    bucket = path.split("/", 1)[0]
    try:
        exists = fs.exists(bucket)
    except Exception:  # the note is a courtesy: never hide the real error behind another
        return ""
    return "" if exists else f" (bucket {bucket!r} does not exist)"


def days_between(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """UTC days touched by the half-open window ``[start, end)``, in order."""
    first = start.astimezone(dt.UTC).date()
    last = (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def require_columns(table: pa.Table, schema: pa.Schema, source: str) -> None:
    """Refuse a table lacking a column of ``schema``, typing it differently, or holding nulls
    where ``schema`` allows none (``source`` names the file or instrument in the error).
    """
    for field in schema:
        if field.name not in table.column_names:
            raise DataError(f"missing column '{field.name}'", source)
        actual = table.schema.field(field.name).type
        if actual != field.type:
            raise DataError(f"column '{field.name}' is {actual}, expected {field.type}", source)
        if not field.nullable and table.column(field.name).null_count > 0:
            raise DataError(f"column '{field.name}' has nulls", source)
