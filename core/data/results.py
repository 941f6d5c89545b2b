"""The five result files of a backtest, and how they are written so a reader can trust them.

A run's folder ``{results_root}/backtest_results/{run_id}/`` holds::

    orders.parquet  fills.parquet  positions.parquet  equity_curve.parquet  summary.json

**summary.json is written last.** A folder without it is an incomplete run (still running, or
killed); a summary with status ``FAILED`` is a failed run, one with ``CANCELLED`` a run the
operator cancelled, and no parquet file is left beside either.
Each file is first written under a temporary hidden name in the folder and then moved to its
final name, so a reader never opens a half-written file under a real name (on object stores
the move is a copy and a delete, which is still all-or-nothing for the final name).

Each parquet file holds exactly its schema's columns in the schema's order; timestamps are
``timestamp[ns, tz=UTC]``. Tables are conformed before anything is written: a column of a
compatible type is cast when the cast loses nothing (int -> float within 2**53, ``us`` -> ``ns``,
naive timestamps are read as UTC, other time zones converted, large/view/dictionary strings ->
string); extra columns the runner carries (e.g. ``decision_price`` on fills) are left out; a
missing column, an incompatible type or a null in a required column is a programming error of
the caller and raises ``ValueError`` naming the file and the column.

In summary.json every non-finite number (NaN, +/-Infinity) is written as JSON ``null``: the
metrics that have no value in some runs are listed in ``core.backtest.metrics``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import msgspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from core.data.layout import results_path
from core.data.run_id import RUN_ID_PATTERN
from core.errors import DataError, one_line
from core.storage.roots import join, resolve, storage_errors, to_url

TIMESTAMP = pa.timestamp("ns", tz="UTC")

ORDERS_SCHEMA = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("operation_id", pa.string(), nullable=False),  # rebalance/signal that caused it
        pa.field("instrument_key", pa.string(), nullable=False),  # BTCUSDT.BINANCE
        pa.field("side", pa.string(), nullable=False),  # BUY / SELL
        pa.field("order_type", pa.string(), nullable=False),  # MARKET / LIMIT / ...
        # An algorithm's parent: its original quantity, what it and its children filled, and
        # FILLED once they filled it all (whatever state Nautilus left the primary in).
        pa.field("quantity", pa.float64(), nullable=False),
        pa.field("filled_quantity", pa.float64(), nullable=False),
        pa.field("price", pa.float64(), nullable=True),  # null for market orders
        pa.field("status", pa.string(), nullable=False),  # FILLED, CANCELED, REJECTED, DENIED...
        pa.field("created_at", TIMESTAMP, nullable=False),  # the decision: the order was made
        pa.field("updated_at", TIMESTAMP, nullable=False),
        pa.field("rejection_reason", pa.string(), nullable=True),
    ]
)

FILLS_SCHEMA = pa.schema(
    [
        pa.field("fill_id", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("instrument_key", pa.string(), nullable=False),
        pa.field("side", pa.string(), nullable=False),
        pa.field("quantity", pa.float64(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("fee", pa.float64(), nullable=False),  # negative for a maker rebate
        pa.field("fee_currency", pa.string(), nullable=False),
        pa.field("ts_event", TIMESTAMP, nullable=False),
        pa.field("venue", pa.string(), nullable=False),
    ]
)

POSITIONS_SCHEMA = pa.schema(
    [
        pa.field("ts_event", TIMESTAMP, nullable=False),
        pa.field("instrument_key", pa.string(), nullable=False),
        pa.field("quantity", pa.float64(), nullable=False),  # signed: negative = short
        pa.field("avg_entry_price", pa.float64(), nullable=True),  # null while flat
        pa.field("current_price", pa.float64(), nullable=False),
        pa.field("unrealized_pnl", pa.float64(), nullable=False),
        pa.field("realized_pnl", pa.float64(), nullable=False),  # cumulative, before fees
    ]
)

EQUITY_SCHEMA = pa.schema(
    [
        pa.field("ts_event", TIMESTAMP, nullable=False),
        pa.field("portfolio_value", pa.float64(), nullable=False),
        pa.field("cash_balance", pa.float64(), nullable=False),
        pa.field("margin_used", pa.float64(), nullable=False),
        pa.field("unrealized_pnl", pa.float64(), nullable=False),
        pa.field("drawdown_pct", pa.float64(), nullable=False),
    ]
)

ORDERS_FILE = "orders.parquet"
FILLS_FILE = "fills.parquet"
POSITIONS_FILE = "positions.parquet"
EQUITY_FILE = "equity_curve.parquet"
SUMMARY_FILE = "summary.json"
# Written in this order; summary.json always comes after all of them.
PARQUET_FILES: dict[str, pa.Schema] = {
    ORDERS_FILE: ORDERS_SCHEMA,
    FILLS_FILE: FILLS_SCHEMA,
    POSITIONS_FILE: POSITIONS_SCHEMA,
    EQUITY_FILE: EQUITY_SCHEMA,
}

STATUS_COMPLETED = "COMPLETED"
STATUS_FAILED = "FAILED"
STATUS_CANCELLED = "CANCELLED"
ENDED_WITHOUT_RESULTS = (STATUS_FAILED, STATUS_CANCELLED)
"""The statuses of a summary that carries an error and no result."""
# Order statuses counted as "rejected" in execution_stats: DENIED is the risk engine refusing
# before the venue saw the order, which is a rejection from the desk's point of view.
REJECTED_STATUSES = ("REJECTED", "DENIED")
EXECUTION_STATS_KEYS = (
    "orders",
    "fills",
    "rejected",
    "avg_slippage_bps",
    "ticks_processed",
    "bytes_read",
    "wall_seconds",
    "ticks_per_second",
)

Frame = pl.DataFrame | pa.Table
_OPTIONAL_METRICS = (
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown_pct",
    "win_rate",
    "profit_factor",
)


@dataclass(frozen=True)
class ResultTables:
    """The four tables of a run, as the runner built them (polars or pyarrow)."""

    orders: Frame
    fills: Frame
    positions: Frame
    equity_curve: Frame

    def by_file(self) -> dict[str, Frame]:
        return {
            ORDERS_FILE: self.orders,
            FILLS_FILE: self.fills,
            POSITIONS_FILE: self.positions,
            EQUITY_FILE: self.equity_curve,
        }


class Period(msgspec.Struct, frozen=True):
    """The replayed window ``[start, end)`` in UTC."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "start", _utc(self.start, "period.start"))
        msgspec.structs.force_setattr(self, "end", _utc(self.end, "period.end"))


class Pnl(msgspec.Struct, frozen=True):
    """Money made, in the quote currency; see ``core.backtest.metrics`` for the definitions."""

    gross_pnl: float
    net_pnl: float
    total_fees: float
    funding_paid: float

    def __post_init__(self) -> None:
        # Money is always a number: a NaN here is a bug upstream, not a metric without a value.
        for name in ("gross_pnl", "net_pnl", "total_fees", "funding_paid"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"summary.pnl.{name}: {getattr(self, name)} is not finite")


class Metrics(msgspec.Struct, frozen=True):
    """Performance figures; ``None`` (JSON null) where a figure has no value for this run."""

    sharpe_ratio: float | None
    sortino_ratio: float | None
    max_drawdown_pct: float | None
    win_rate: float | None
    profit_factor: float | None
    total_trades: int

    def __post_init__(self) -> None:
        # A NaN would be written as null anyway; making it None here keeps the object equal to
        # what read_summary gives back.
        for name in (
            "sharpe_ratio",
            "sortino_ratio",
            "max_drawdown_pct",
            "win_rate",
            "profit_factor",
        ):
            msgspec.structs.force_setattr(self, name, finite_or_none(getattr(self, name)))


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """summary.json. A ``FAILED`` or ``CANCELLED`` summary carries only the id, the error, the
    time and config."""

    run_id: str
    status: str
    error: str | None = None
    created_at: dt.datetime
    config: dict[str, Any]
    period: Period | None = None
    pnl: Pnl | None = None
    metrics: Metrics | None = None
    # A dict rather than a Struct so the runner can add figures without a schema change; the
    # keys in EXECUTION_STATS_KEYS are always present in a completed run.
    execution_stats: dict[str, Any] | None = None
    starting_value: float | None = None
    final_value: float | None = None

    def __post_init__(self) -> None:
        if RUN_ID_PATTERN.match(self.run_id) is None:
            raise ValueError(f"summary.run_id: {self.run_id!r} is not BT-YYYYMMDD-NNN")
        msgspec.structs.force_setattr(self, "created_at", _utc(self.created_at, "created_at"))
        if self.status in ENDED_WITHOUT_RESULTS:
            if self.error is None or not self.error.strip():
                raise ValueError(f"summary.error: a {self.status} summary needs the error")
            return
        if self.status != STATUS_COMPLETED:
            raise ValueError(
                f"summary.status: {self.status!r} is not COMPLETED, FAILED or CANCELLED"
            )
        if self.error is not None:
            raise ValueError("summary.error: a COMPLETED summary has no error")
        for name in ("period", "pnl", "metrics", "execution_stats"):
            if getattr(self, name) is None:
                raise ValueError(f"summary.{name}: required in a COMPLETED summary")
        for name in ("starting_value", "final_value"):
            value = getattr(self, name)
            if value is None or not math.isfinite(value):
                raise ValueError(f"summary.{name}: a finite number is required when COMPLETED")
        missing = [k for k in EXECUTION_STATS_KEYS if k not in self.execution_stats]
        if missing:
            raise ValueError(f"summary.execution_stats: missing {', '.join(missing)}")


def finite_or_none(value: float | None) -> float | None:
    """``None`` for NaN/Infinity: JSON has no such numbers and a reader must not see them."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def execution_stats(
    tables: ResultTables,
    *,
    avg_slippage_bps: float | None,
    ticks_processed: int,
    bytes_read: int,
    wall_seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    """The ``execution_stats`` of a summary, counted from the run's own tables.

    Counting from the tables that are written keeps the summary and the files consistent.
    ``ticks_per_second`` is ``None`` when ``wall_seconds`` is not positive (nothing timed).
    ``extra`` keys (e.g. ``peak_rss_bytes``) are added as given.
    """
    orders = _to_arrow(tables.orders, ORDERS_FILE)
    fills = _to_arrow(tables.fills, FILLS_FILE)
    if "status" not in orders.column_names:
        raise ValueError(f"{ORDERS_FILE}: missing column 'status'")
    statuses = orders.column("status").cast(pa.string())
    rejected = pc.sum(pc.is_in(statuses, pa.array(REJECTED_STATUSES))).as_py() or 0
    stats: dict[str, Any] = {
        "orders": orders.num_rows,
        "fills": fills.num_rows,
        "rejected": int(rejected),
        "avg_slippage_bps": finite_or_none(avg_slippage_bps),
        "ticks_processed": int(ticks_processed),
        "bytes_read": int(bytes_read),
        "wall_seconds": float(wall_seconds),
        "ticks_per_second": ticks_processed / wall_seconds if wall_seconds > 0 else None,
    }
    stats.update(extra)
    return stats


def conform(table: Frame, schema: pa.Schema, file_name: str) -> pa.Table:
    """Return ``table`` as exactly ``schema``: its columns, in order, cast where lossless.

    Raises
    ------
    ValueError
        Naming ``file_name`` and the column, for a missing column, a type that cannot be cast
        without loss, or nulls in a column that may not hold them.
    """
    source = _to_arrow(table, file_name)
    columns = []
    for field in schema:
        if field.name not in source.column_names:
            raise ValueError(f"{file_name}: missing column '{field.name}'")
        column = _cast(source.column(field.name), field, file_name)
        if not field.nullable and column.null_count > 0:
            raise ValueError(
                f"{file_name}: column '{field.name}' has {column.null_count} nulls; it may not"
            )
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def write_results(results_root: str, run_id: str, tables: ResultTables, summary: Summary) -> str:
    """Write a completed run's five files and return the folder's URL.

    The four tables are all validated before the first byte is written, so a programming error
    leaves nothing behind; summary.json goes last so its presence means the run is complete.

    Raises
    ------
    ValueError
        A table does not fit its schema, or ``summary`` is not this run's COMPLETED summary.
    DataError
        The results root cannot be written.
    """
    if summary.run_id != run_id:
        raise ValueError(f"{SUMMARY_FILE}: run_id {summary.run_id!r} is not {run_id!r}")
    if summary.status != STATUS_COMPLETED:
        raise ValueError(
            f"{SUMMARY_FILE}: write_results writes COMPLETED runs; use "
            "write_failed_summary for a failed one"
        )
    conformed = {
        name: conform(table, PARQUET_FILES[name], name) for name, table in tables.by_file().items()
    }
    payload = _encode(summary)
    fs, folder = resolve(results_path(results_root, run_id))
    url = to_url(fs, folder)
    try:
        fs.makedirs(folder, exist_ok=True)
        for name, table in conformed.items():
            _write_then_move(fs, folder, name, lambda f, t=table: pq.write_table(t, f))
        _write_then_move(fs, folder, SUMMARY_FILE, lambda f: f.write(payload))
    except OSError as exc:
        raise DataError(f"cannot write results: {one_line(exc)}", source=url) from exc
    return url


def write_failed_summary(
    results_root: str,
    run_id: str,
    error: str,
    config: dict[str, Any],
    created_at: dt.datetime,
    status: str = STATUS_FAILED,
) -> str:
    """Mark a run as failed: remove its parquet files, write a FAILED summary, return the URL.

    ``status`` CANCELLED marks a run the operator cancelled the same way.

    Parquet files already written (or left under temporary names) are removed first, so
    nothing half-written in a failed run's folder looks like a result. ``error`` is reduced to
    one line (its lines joined with `` | ``) because the console shows it in a table cell.
    Config values JSON cannot hold are written as their ``str()``: a failed run must always
    leave its summary.
    """
    joined = " | ".join(line.strip() for line in error.splitlines() if line.strip())
    summary = Summary(
        run_id=run_id,
        status=status,
        error=joined or "unknown error",
        created_at=created_at,
        config=config,
    )
    payload = _encode(summary, lenient=True)
    fs, folder = resolve(results_path(results_root, run_id))
    url = to_url(fs, folder)
    try:
        fs.makedirs(folder, exist_ok=True)
        fs.invalidate_cache(folder)
        for path in fs.find(folder):
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if name.endswith(".parquet") or name.endswith(_TMP_SUFFIX):
                fs.rm(path)
        _write_then_move(fs, folder, SUMMARY_FILE, lambda f: f.write(payload))
    except OSError as exc:
        raise DataError(f"cannot write failed summary: {one_line(exc)}", source=url) from exc
    return url


def read_run_file(folder_url: str, name: str, when_missing: str) -> tuple[bytes, str]:
    """The bytes of file ``name`` in a run's folder (local or ``gs://``) and its URL.

    Raises
    ------
    DataError
        One line naming the file: ``missing: {when_missing}``, or why it cannot be read.
    """
    fs, folder = resolve(folder_url)
    path = join(folder, name)
    source = to_url(fs, path)
    try:
        return fs.cat_file(path), source
    except FileNotFoundError as exc:
        raise DataError(f"missing: {when_missing}", source) from exc
    except storage_errors() as exc:
        raise DataError(f"cannot read: {one_line(exc)}", source) from exc


def read_summary(folder_url: str) -> Summary:
    """Read a run's summary.json.

    Raises
    ------
    DataError
        If the file is absent (the run is incomplete) or is not a valid summary.
    """
    data, source = read_run_file(folder_url, SUMMARY_FILE, "the run is incomplete or still running")
    try:
        return msgspec.json.decode(data, type=Summary)
    except msgspec.DecodeError as exc:
        raise DataError(f"not a valid summary: {one_line(exc)}", source) from exc


_TMP_SUFFIX = ".tmp"


def _write_then_move(
    fs: AbstractFileSystem, folder: str, name: str, write: Callable[[Any], object]
) -> None:
    # Hidden temporary name in the same folder: a rename within a folder is atomic locally,
    # and readers looking for the final name never see a partial file.
    temporary = join(folder, f".{name}.{uuid.uuid4().hex}{_TMP_SUFFIX}")
    try:
        with fs.open(temporary, "wb") as handle:
            write(handle)
        fs.mv(temporary, join(folder, name))
    except BaseException:
        # Best effort: the error being raised matters more than a leftover hidden file, which
        # write_failed_summary removes anyway.
        with contextlib.suppress(OSError):
            if fs.exists(temporary):
                fs.rm(temporary)
        raise


def _encode(summary: Summary, *, lenient: bool = False) -> bytes:
    hook = _lenient_hook if lenient else _strict_hook
    try:
        raw = msgspec.json.encode(summary, enc_hook=hook)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{SUMMARY_FILE}: cannot encode: {one_line(exc)}") from exc
    return msgspec.json.format(raw, indent=2) + b"\n"


def _strict_hook(value: Any) -> Any:
    # Configs often hold paths; anything else unknown is the caller's mistake in a result.
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"config value of type {type(value).__name__} is not JSON")


def _lenient_hook(value: Any) -> Any:
    # A failed run must always leave its summary, even if the config that broke it is odd.
    return str(value)


def _to_arrow(table: Frame, file_name: str) -> pa.Table:
    if isinstance(table, pl.DataFrame):
        return table.to_arrow()
    if isinstance(table, pa.Table):
        return table
    raise ValueError(
        f"{file_name}: expected a polars DataFrame or pyarrow Table, got {type(table).__name__}"
    )


def _cast(column: pa.ChunkedArray, field: pa.Field, file_name: str) -> pa.ChunkedArray:
    source, target = column.type, field.type
    if source == target:
        return column
    if not _castable(source, target):
        raise ValueError(f"{file_name}: column '{field.name}' is {source}, expected {target}")
    try:
        return pc.cast(column, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(
            f"{file_name}: column '{field.name}' cannot be cast from {source} to {target} "
            f"without loss: {one_line(exc)}"
        ) from exc


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    # Only casts that keep the meaning: pyarrow would also parse strings into numbers or print
    # numbers as strings, which would hide a column mix-up.
    if pa.types.is_null(source):
        return True
    if pa.types.is_string(target):
        if pa.types.is_dictionary(source):
            source = source.value_type
        return (
            pa.types.is_string(source)
            or pa.types.is_large_string(source)
            or pa.types.is_string_view(source)
        )
    if pa.types.is_floating(target):
        return pa.types.is_integer(source) or pa.types.is_floating(source)
    if pa.types.is_timestamp(target):
        return pa.types.is_timestamp(source) or source == pa.int64()
    return False


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"summary.{name}: must be time zone-aware")
    return value.astimezone(dt.UTC)
