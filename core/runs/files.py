"""One run's files read for its detail view: the summary, the curve, the tails of its tables.

The equity curve is read whole but only its three plotted columns; orders and fills can hold
millions of rows, so only the row groups holding their last ``tail_rows`` rows are read, and
the total comes from the parquet footer. Each part that cannot be read carries its one-line
problem instead of failing the others: a run with a broken fills file still shows its curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.data.results import EQUITY_FILE, FILLS_FILE, ORDERS_FILE, Summary, read_summary
from core.errors import DataError, one_line
from core.storage.roots import join, resolve, storage_errors, to_url


@dataclass(frozen=True)
class TableTail:
    """The last rows of a result table, and how many it holds in all."""

    table: pa.Table
    total: int


@dataclass(frozen=True)
class EquityCurve:
    """The curve as arrays: epoch ns, portfolio value, drawdown in percent (positive)."""

    ts_ns: np.ndarray
    value: np.ndarray
    drawdown_pct: np.ndarray


@dataclass(frozen=True)
class RunFiles:
    """What a detail view shows of a run; a part is None when ``problems`` says why."""

    folder: str
    summary: Summary | None = None
    equity: EquityCurve | None = None
    fills: TableTail | None = None
    orders: TableTail | None = None
    problems: dict[str, str] = field(default_factory=dict)
    """One line per file that could not be read, by file name."""


def read_run_files(folder: str, tail_rows: int = 500) -> RunFiles:
    """Read a run's summary, equity curve and the last ``tail_rows`` fills and orders.

    Blocks on storage (local or ``gs://``): call it off the console's loop.
    """
    problems: dict[str, str] = {}
    summary = equity = fills = orders = None
    try:
        summary = read_summary(folder)
    except DataError as error:
        problems["summary.json"] = error.problem
    fs, base = resolve(folder)
    try:
        with fs.open(join(base, EQUITY_FILE), "rb") as handle:
            table = pq.read_table(handle, columns=["ts_event", "portfolio_value", "drawdown_pct"])
        equity = EquityCurve(
            table.column("ts_event").cast(pa.int64()).to_numpy(),
            table.column("portfolio_value").to_numpy(),
            table.column("drawdown_pct").to_numpy(),
        )
    except (*storage_errors(), pa.ArrowException, KeyError) as exc:
        problems[EQUITY_FILE] = _problem(exc)
    try:
        fills = read_tail(to_url(fs, join(base, FILLS_FILE)), tail_rows)
    except (*storage_errors(), pa.ArrowException) as exc:
        problems[FILLS_FILE] = _problem(exc)
    try:
        orders = read_tail(to_url(fs, join(base, ORDERS_FILE)), tail_rows)
    except (*storage_errors(), pa.ArrowException) as exc:
        problems[ORDERS_FILE] = _problem(exc)
    return RunFiles(folder, summary, equity, fills, orders, problems)


def read_tail(url: str, rows: int) -> TableTail:
    """The last ``rows`` rows of the parquet file at ``url``, reading only their row groups."""
    fs, path = resolve(url)
    with fs.open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        total = parquet.metadata.num_rows
        groups: list[int] = []
        count = 0
        for index in range(parquet.num_row_groups - 1, -1, -1):
            if count >= rows:
                break
            groups.insert(0, index)
            count += parquet.metadata.row_group(index).num_rows
        table = parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
    return TableTail(table.slice(max(0, table.num_rows - rows)), total)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "missing"
    return one_line(exc)
