"""How one run looks in the run list: its cells, coloured by theme variables (``cells.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from rich.text import Text

from console.widgets.cells import DASH, number, percent, pnl, themed
from console.widgets.table_pane import Cells
from core.runs.catalog import BROKEN, RunEntry, UploadTally

STATE_VARIABLES = {
    "QUEUED": "status-open",
    "RUNNING": "status-open",
    "COMPLETED": "status-done",
    "FAILED": "status-bad",
    "CANCELLED": "status-closed",
    BROKEN: "status-bad",
}
MARK = "✓ "
"""Before a marked run's id."""


def run_cells(entry: RunEntry, marked: bool, variables: Mapping[str, str]) -> Cells:
    """The run list's cells of ``entry``, in ``RunsPane.COLUMNS`` order."""
    figures = entry.figures
    return (
        f"{MARK}{entry.run_id}" if marked else entry.run_id,
        themed(entry.status, STATE_VARIABLES.get(entry.status), variables),
        percent(entry.progress),
        entry.phase or DASH,
        pnl(figures.net_pnl, variables),
        number(figures.sharpe_ratio),
        DASH if figures.max_drawdown_pct is None else f"{figures.max_drawdown_pct:.2f}%",
        period_text(figures.start_ns, figures.end_ns),
        instruments_text(figures.instruments),
        entry.where,
        uploads_cell(entry.uploads, variables),
        entry.note or "",
    )


def period_text(start_ns: int | None, end_ns: int | None) -> str:
    """``2026-01-05 00:00 +3h``: the start and the length, in the width of a table cell."""
    if start_ns is None or end_ns is None:
        return DASH
    start = dt.datetime.fromtimestamp(start_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")
    seconds = max(0, (end_ns - start_ns) // 1_000_000_000)
    if seconds % 86_400 == 0 and seconds:
        span = f"{seconds // 86_400}d"
    elif seconds % 3_600 == 0 and seconds:
        span = f"{seconds // 3_600}h"
    else:
        span = f"{seconds // 60}m"
    return f"{start} +{span}"


def instruments_text(instruments: Sequence[str]) -> str:
    """The first instrument and how many more: ``BTCUSDT.BINANCE +2``."""
    if not instruments:
        return DASH
    more = len(instruments) - 1
    return instruments[0] + (f" +{more}" if more else "")


def uploads_cell(tally: UploadTally | None, variables: Mapping[str, str]) -> str | Text:
    """The upload tally coloured as the news is: failed, pending or all done."""
    if tally is None:
        return DASH
    variable = "status-bad" if tally.failed else "status-open" if tally.pending else "status-done"
    return themed(tally.text, variable, variables)
