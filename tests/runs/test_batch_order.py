"""A batch's runs are submitted longest first, the length estimated from the trade files'
footers: the rows of the row groups overlapping each run's period, a signal-driven run
weighted at a sixth of a full one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import polars as pl

from core.config import AppConfig
from core.data.layout import trades_path
from core.runs.batch_grid import GridPoint
from core.runs.batch_order import estimated_ticks, longest_first

BTC = "BTCUSDT.BINANCE"


def _point(index: int, root: str, start: str, end: str, mode: str = "full") -> GridPoint:
    settings = {
        "data": {"root": root},
        "backtest": {"start": start, "end": end, "instruments": [BTC], "mode": mode},
    }
    return GridPoint(index, {}, msgspec.convert(settings, AppConfig))


def _trades(root: str, start: str, end: str) -> int:
    day = dt.date.fromisoformat(start[:10])
    frame = pl.read_parquet(Path(trades_path(root, day, BTC)))
    ts = pl.col("ts_event")
    low, high = (pl.lit(t).str.to_datetime(time_zone="UTC").dt.epoch("ns") for t in (start, end))
    return frame.filter((ts >= low) & (ts < high)).height


def test_estimate_is_the_rows_of_the_row_groups_overlapping_the_period(
    demo_root: str,
) -> None:
    start, end = "2026-01-05T13:00:00+00:00", "2026-01-05T14:00:00+00:00"
    estimate = estimated_ticks(_point(0, demo_root, start, end).config)
    trades = _trades(demo_root, start, end)
    # The demo's row groups are the 10-minute buckets: an hour on the hour is six whole groups.
    assert estimate == trades > 0


def test_longest_first_puts_the_busiest_full_tick_period_first_and_a_bad_root_last(
    demo_root: str, tmp_path: Path
) -> None:
    day = "2026-01-05T"
    quiet = _point(0, demo_root, f"{day}03:00:00+00:00", f"{day}04:00:00+00:00")
    busy = _point(1, demo_root, f"{day}14:00:00+00:00", f"{day}15:00:00+00:00")
    whole = _point(2, demo_root, f"{day}00:00:00+00:00", "2026-01-06T00:00:00+00:00")
    signals = _point(3, demo_root, f"{day}00:00:00+00:00", "2026-01-06T00:00:00+00:00", "signals")
    missing = _point(4, str(tmp_path / "nothing"), f"{day}00:00:00+00:00", f"{day}01:00:00+00:00")
    order = [p.index for p in longest_first([missing, quiet, signals, busy, whole])]
    assert order[0] == whole.index
    assert order.index(busy.index) < order.index(quiet.index)
    assert order[-1] == missing.index  # unreadable: estimated 0, the run will say why
    assert estimated_ticks(signals.config) == estimated_ticks(whole.config)
