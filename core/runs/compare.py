"""Two or more backtests side by side: their metrics in one table and their equity curves on one
pair of axes.

The desk compares runs that differ in one parameter (a fee, a latency, a window), so the table
keeps every figure exactly as each run's ``summary.json`` holds it and adds, for each run after
the first, its difference from the first: the first run is the reference the operator chose.

Curves: when every run's period overlaps the others', they share the time axis (epoch ns), so
the same market moment lines up; otherwise (e.g. this week against last week) they are aligned
by elapsed time since each run's start, and the title says so. When the runs started from
different portfolio values, absolute values would put the curves on different levels, so the
curves become the return in percent of each run's starting value (the title says that too);
with equal starting values the portfolio value itself is drawn, in the quote currency.
Drawdowns are drawn as negative percentages, so a deeper drawdown is lower on the plot.

Nothing here imports Textual: ``trade-console compare`` and the console's compare screen build
the same ``RunComparison``; the console calls ``compare_runs`` off its event loop (it reads
parquet files, possibly from GCS).
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa

from core.data.layout import results_path
from core.data.results import (
    EQUITY_FILE,
    STATUS_COMPLETED,
    SUMMARY_FILE,
    Summary,
    read_run_file,
    read_summary,
)
from core.data.run_id import RUN_ID_PATTERN
from core.data.ticks import to_ns
from core.errors import DataError, one_line
from core.storage.roots import join, resolve, to_url

Kind = Literal["money", "percent", "fraction", "ratio", "count", "bps", "text"]
"""How a metric is shown: ``fraction`` values (win rate) are stored as 0..1, shown as %."""


@dataclass(frozen=True)
class LoadedRun:
    """One completed run: where it is, its summary and its equity curve (ns, value, drawdown)."""

    folder: str
    summary: Summary
    equity_ns: np.ndarray
    equity_value: np.ndarray
    drawdown_pct: np.ndarray

    @property
    def label(self) -> str:
        """The run id: what the operator knows the run by."""
        return self.summary.run_id


@dataclass(frozen=True)
class MetricRow:
    """One figure of every run; ``differences[i]`` is run ``i + 1`` minus the first run (None
    where the figure is not a number in either)."""

    name: str
    kind: Kind
    values: tuple[float | str | None, ...]
    differences: tuple[float | None, ...]


@dataclass(frozen=True)
class Curve:
    """One run's curve, ready to draw: ``xs`` ascending (epoch ns or elapsed ns)."""

    name: str
    xs: np.ndarray
    ys: np.ndarray


@dataclass(frozen=True)
class CurveSet:
    """The overlaid curves and how they were aligned (``axis``) and scaled (``unit``)."""

    title: str
    axis: Literal["time", "elapsed"]
    unit: Literal["value", "return_pct"]
    equity: tuple[Curve, ...]
    drawdown: tuple[Curve, ...]


@dataclass(frozen=True)
class RunComparison:
    """Everything the compare table and plot show."""

    runs: tuple[LoadedRun, ...]
    labels: tuple[str, ...]
    rows: tuple[MetricRow, ...]
    curves: CurveSet

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``trade-console compare --json``); keys are stable."""
        return {
            "runs": [
                {"label": label, "run_id": run.summary.run_id, "folder": run.folder}
                for label, run in zip(self.labels, self.runs, strict=True)
            ],
            "metrics": [
                {
                    "name": row.name,
                    "kind": row.kind,
                    "values": list(row.values),
                    "differences": list(row.differences),
                }
                for row in self.rows
            ],
            "curves": {
                "title": self.curves.title,
                "axis": self.curves.axis,
                "unit": self.curves.unit,
            },
        }


def read_result_table(folder: str, name: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read one parquet file of a run's folder (local or ``gs://``).

    Raises
    ------
    DataError
        One line naming the file: missing (the run is incomplete, failed or cancelled) or
        unreadable.
    """
    data, source = read_run_file(folder, name, "the run is incomplete, failed or cancelled")
    try:
        # Read by polars: a threaded pyarrow read can leave Arrow's pools to abort the
        # interpreter's teardown (exit 134; see console.cli.entry, which exits past it).
        return pl.read_parquet(
            io.BytesIO(data), columns=list(columns) if columns else None
        ).to_arrow()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"not a readable parquet file: {one_line(exc)}", source) from exc


def load_run(folder: str) -> LoadedRun:
    """Read a completed run's summary and equity curve.

    Raises
    ------
    DataError
        The folder holds no summary, a FAILED or CANCELLED run (which has no curve to
        compare), or no equity curve.
    """
    summary = read_summary(folder)
    if summary.status != STATUS_COMPLETED:
        raise DataError(
            f"run {summary.run_id} {summary.status}, nothing to compare: {summary.error}", folder
        )
    table = read_result_table(folder, EQUITY_FILE, ("ts_event", "portfolio_value", "drawdown_pct"))
    ns = table.column("ts_event").cast(pa.int64()).to_numpy()
    return LoadedRun(
        folder=folder,
        summary=summary,
        equity_ns=np.asarray(ns, dtype=np.int64),
        equity_value=table.column("portfolio_value").to_numpy().astype(np.float64),
        drawdown_pct=table.column("drawdown_pct").to_numpy().astype(np.float64),
    )


def compare_runs(folders: Sequence[str]) -> RunComparison:
    """Load ``folders`` (two or more) and compare them; the first is the reference.

    Raises
    ------
    DataError
        Fewer than two folders, or a folder that is not a completed run (see ``load_run``).
    """
    if len(folders) < 2:
        raise DataError(f"compare needs two or more runs, got {len(folders)}")
    runs = tuple(load_run(folder) for folder in folders)
    return build_comparison(runs)


def build_comparison(runs: Sequence[LoadedRun]) -> RunComparison:
    """The comparison of runs already loaded (pure: tests and the console reuse it)."""
    labels = _labels([run.label for run in runs])
    rows = tuple(_metric_rows(runs))
    return RunComparison(tuple(runs), labels, rows, _curves(runs, labels))


# -- the metrics table ------------------------------------------------------------------------

METRICS: tuple[tuple[str, Kind], ...] = (
    ("net PnL", "money"),
    ("gross PnL", "money"),
    ("fees", "money"),
    ("return %", "percent"),
    ("Sharpe", "ratio"),
    ("Sortino", "ratio"),
    ("max drawdown %", "percent"),
    ("win rate", "fraction"),
    ("profit factor", "ratio"),
    ("trades", "count"),
    ("orders", "count"),
    ("fills", "count"),
    ("avg slippage bps", "bps"),
    ("starting value", "money"),
    ("final value", "money"),
    ("period", "text"),
    ("instruments", "text"),
    ("mode", "text"),
)
"""The rows of the table, in order, with how each is shown."""


def metric_values(summary: Summary) -> dict[str, float | str | None]:
    """The figures of one run's summary, by row name (exactly the summary's numbers)."""
    pnl, metrics, stats = summary.pnl, summary.metrics, summary.execution_stats or {}
    assert pnl is not None and metrics is not None and summary.period is not None
    start, final = summary.starting_value, summary.final_value
    backtest = summary.config.get("backtest", {}) if isinstance(summary.config, dict) else {}
    instruments = backtest.get("instruments") or []
    period = summary.period
    return {
        "net PnL": pnl.net_pnl,
        "gross PnL": pnl.gross_pnl,
        "fees": pnl.total_fees,
        "return %": (final / start - 1.0) * 100.0 if start and final is not None else None,
        "Sharpe": metrics.sharpe_ratio,
        "Sortino": metrics.sortino_ratio,
        "max drawdown %": metrics.max_drawdown_pct,
        "win rate": metrics.win_rate,
        "profit factor": metrics.profit_factor,
        "trades": metrics.total_trades,
        "orders": stats.get("orders"),
        "fills": stats.get("fills"),
        "avg slippage bps": stats.get("avg_slippage_bps"),
        "starting value": start,
        "final value": final,
        "period": period_text(period.start, period.end),
        "instruments": instruments_text([str(i) for i in instruments]),
        "mode": str(backtest.get("mode", "")),
    }


def period_text(start: dt.datetime, end: dt.datetime) -> str:
    """``2026-01-05 00:00 +6h``: the start and the length, short enough for an 80-column table."""
    minutes = int((end - start).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    length = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return f"{start:%Y-%m-%d %H:%M} +{length or '0m'}"


def instruments_text(instruments: Sequence[str]) -> str:
    """``BTCUSDT,ETHUSDT@BINANCE`` when every instrument is on one venue, else the full ids."""
    venues = {i.rpartition(".")[2] for i in instruments if "." in i}
    if len(venues) == 1 and all("." in i for i in instruments):
        return ",".join(i.rpartition(".")[0] for i in instruments) + f"@{venues.pop()}"
    return ",".join(instruments)


def _metric_rows(runs: Sequence[LoadedRun]) -> list[MetricRow]:
    values = [metric_values(run.summary) for run in runs]
    rows = []
    for name, kind in METRICS:
        row = tuple(v[name] for v in values)
        first = row[0]
        differences = tuple(
            _difference(value, first) if kind != "text" else None for value in row[1:]
        )
        rows.append(MetricRow(name, kind, row, differences))
    return rows


def _difference(value: float | str | None, first: float | str | None) -> float | None:
    if not isinstance(value, int | float) or not isinstance(first, int | float):
        return None
    return float(value) - float(first)


def _labels(run_ids: Sequence[str]) -> tuple[str, ...]:
    # The same run may be compared from two places (the local folder and its upload).
    seen: dict[str, int] = {}
    labels = []
    for run_id in run_ids:
        seen[run_id] = seen.get(run_id, 0) + 1
        labels.append(run_id if seen[run_id] == 1 else f"{run_id}#{seen[run_id]}")
    return tuple(labels)


def format_value(value: float | str | None, kind: Kind, *, signed: bool = False) -> str:
    """A table cell: ``-`` for a figure the run does not have; ``signed`` for differences."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value or "-"
    if not math.isfinite(value):
        return "-"
    sign = "+" if signed else ""
    match kind:
        case "money":
            return f"{value:{sign},.2f}"
        case "percent":
            return f"{value:{sign}.2f}%"
        case "fraction":
            return f"{value * 100:{sign}.1f}%"
        case "count":
            return f"{value:{sign},.0f}"
        case "bps":
            return f"{value:{sign}.2f}"
        case _:
            return f"{value:{sign}.3f}"


def table_cells(comparison: RunComparison) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the metrics table as text (the CLI and the screen show these)."""
    header = ["metric", *comparison.labels]
    header += [f"Δ {label}" for label in comparison.labels[1:]]
    rows = []
    for row in comparison.rows:
        cells = [row.name, *(format_value(v, row.kind) for v in row.values)]
        if row.kind == "text":  # not a number: say whether it differs from the first run
            cells += ["differs" if v != row.values[0] else "" for v in row.values[1:]]
        else:
            cells += [format_value(d, row.kind, signed=True) for d in row.differences]
        rows.append(cells)
    return header, rows


# -- the curves -------------------------------------------------------------------------------


def periods_overlap(runs: Sequence[LoadedRun]) -> bool:
    """Whether one moment lies in every run's period (then they share the time axis)."""
    periods = [run.summary.period for run in runs]
    assert all(p is not None for p in periods)
    return max(p.start for p in periods) < min(p.end for p in periods)  # type: ignore[union-attr]


def _curves(runs: Sequence[LoadedRun], labels: Sequence[str]) -> CurveSet:
    overlap = periods_overlap(runs)
    starts = {run.summary.starting_value for run in runs}
    as_return = len(starts) > 1
    equity, drawdown = [], []
    for run, label in zip(runs, labels, strict=True):
        period = run.summary.period
        assert period is not None
        origin = 0 if overlap else to_ns(period.start)
        xs = (run.equity_ns - origin).astype(np.float64)
        start_value = run.summary.starting_value or 1.0
        ys = (run.equity_value / start_value - 1.0) * 100.0 if as_return else run.equity_value
        equity.append(Curve(label, xs, ys))
        drawdown.append(Curve(label, xs, -run.drawdown_pct))
    what = "return % (the starting values differ)" if as_return else "portfolio value"
    axis = "time" if overlap else "elapsed"
    where = "" if overlap else ", aligned by elapsed time (the periods do not overlap)"
    return CurveSet(
        title=f"Equity: {what}{where}",
        axis=axis,
        unit="return_pct" if as_return else "value",
        equity=tuple(equity),
        drawdown=tuple(drawdown),
    )


def elapsed_label(value: float) -> str:
    """An x-axis label for elapsed ns: ``+2d03h`` or ``+3h20m``."""
    minutes = int(value // 60e9)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return f"+{days}d{hours:02d}h" if days else f"+{hours}h{minutes:02d}m"


def resolve_run(text: str, results_root: str, upload_root: str = "") -> str:
    """The folder URL of ``text``: a run id (``BT-YYYYMMDD-NNN``) is looked for under
    ``results_root``, then ``upload_root``; anything else is taken as a folder URL.

    Raises
    ------
    DataError
        A run id found under neither root (one line naming both).
    """
    if RUN_ID_PATTERN.match(text) is None:
        return text
    roots = [root for root in (results_root, upload_root) if root]
    for root in roots:
        folder = results_path(root, text)
        fs, path = resolve(folder)
        if fs.exists(join(path, SUMMARY_FILE)):
            return to_url(fs, path)
    raise DataError(f"run {text}: no {SUMMARY_FILE} under {' nor '.join(roots)}")
