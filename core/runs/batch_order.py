"""Longest runs first: a batch's tail is its last run going alone, so it should be a short one.

Dask starts a batch's tasks in the order they were submitted. In grid order, the last run
may be a long one that the other workers wait on, idle: on two workers the tail was about a
third of what a 12-run batch lost against 2x (``bench/bench_batch.py`` prints it). Submitted
longest first (the classic LPT order), the runs left for the end are the short ones.

A run's length is estimated without reading a tick: the rows of the trade files' row groups
that overlap its period, from their footers (the ``ts_event`` statistics the readers choose
row groups by), weighted by mode: a signal-driven run costs about a sixth of a full-tick
run of the same period (``bench/bench_batch.py``: 0.24 s against 1.41 s a 6-hour run). A
period or file that cannot be read counts as 0: the run itself will say what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.config import AppConfig, parse_time
from core.data.layout import days_between, trades_path
from core.data.ticks import CountingFile, parse_footer, read_footer, row_group_spans, to_ns
from core.errors import TradeConsoleError
from core.runs.batch_grid import GridPoint
from core.storage.roots import resolve, storage_errors

SIGNALS_COST = 1 / 6  # a signal-driven run's cost against a full run's, same period


def estimated_ticks(config: AppConfig) -> int:
    """Trades in the row groups of ``config``'s instruments overlapping its period (0 when
    its period is not set or a file cannot be read)."""
    backtest = config.backtest
    if not backtest.start or not backtest.end:
        return 0  # the whole data set: every such run of the grid is alike
    try:
        start = parse_time(backtest.start, "backtest.start")
        end = parse_time(backtest.end, "backtest.end")
        fs, base = resolve(config.data.root)
        low, high = to_ns(start), to_ns(end)
        total = 0
        for day in days_between(start, end):
            for instrument_id in backtest.instruments:
                path = trades_path(base, day, instrument_id)
                with fs.open(path, "rb", cache_type="none") as raw:
                    footer = read_footer(CountingFile(raw, lambda _: None), path)
                metadata = parse_footer(footer, path)
                for index, span in enumerate(row_group_spans(metadata, path)):
                    if span is not None and span[0] < high and span[1] >= low:
                        total += metadata.row_group(index).num_rows
        return total
    except (TradeConsoleError, *storage_errors()):
        return 0


def longest_first(points: Sequence[GridPoint]) -> list[GridPoint]:
    """``points`` in the order to submit them: the longest estimated run first (ties in grid
    order)."""

    def cost(point: GridPoint) -> float:
        ticks = estimated_ticks(point.config)
        return ticks * (SIGNALS_COST if point.config.backtest.mode == "signals" else 1.0)

    return sorted(points, key=cost, reverse=True)
