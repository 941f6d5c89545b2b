"""Signal-driven backtests (``[backtest] mode = "signals"``) on the session's demo data.

One signal-driven run and one full-tick run of the same two days are shared by most tests:
the signal-driven run must leave the same five files, create each signal's orders inside its
window, feed exactly the trades of the windows (plus the last trade before each), and, since
every fill of the full run lies inside a window, produce the very same orders, fills and
positions while reading a fraction of the bytes. Expectations are recomputed from the input
files, not taken from the pipeline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from test_backtest import ns, read

from console.commands.backtest import apply_overrides
from core.backtest.pipeline import BacktestOutcome, run_backtest
from core.config import ConfigError, load_config
from core.data.layout import signals_path, trades_path
from core.data.results import (
    EQUITY_FILE,
    FILLS_FILE,
    ORDERS_FILE,
    PARQUET_FILES,
    POSITIONS_FILE,
    SUMMARY_FILE,
)
from core.data.signal_windows import signal_windows

ConfigWriter = Callable[..., Path]  # conftest's config_writer

DAYS = (dt.date(2026, 1, 5), dt.date(2026, 1, 6))  # conftest's demo data
INSTRUMENTS = ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE")
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 7, tzinfo=dt.UTC)
NS = 1_000_000_000
WINDOW_SECS = 900
"""Longer than the slowest order of the period takes to fill from the trades printed after
it (the honest fill model: 614 s at most here), so the windows cover every fill."""
WINDOW_NS = WINDOW_SECS * NS

# Nautilus's BacktestNode calls a pandas API deprecated in pandas 3 on every run.
pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


def stats_of(outcome: BacktestOutcome) -> dict:
    return json.loads((Path(outcome.folder) / SUMMARY_FILE).read_text())["execution_stats"]


def write_run_config(
    config_writer: ConfigWriter, folder: Path, demo_root: str, **backtest: object
) -> Path:
    return config_writer(
        folder / "config.toml",
        data_root=demo_root,
        results_root=str(folder / "results"),
        backtest={"start": START.isoformat(), "end": END.isoformat(), **backtest},
    )


@pytest.fixture(scope="module")
def signal_run(
    config_writer: ConfigWriter, demo_root: str, tmp_path_factory: pytest.TempPathFactory
) -> BacktestOutcome:
    folder = tmp_path_factory.mktemp("signals")
    config = write_run_config(
        config_writer, folder, demo_root, mode="signals", window_secs=WINDOW_SECS
    )
    return run_backtest(load_config(config))


@pytest.fixture(scope="module")
def full_run(
    config_writer: ConfigWriter, demo_root: str, tmp_path_factory: pytest.TempPathFactory
) -> BacktestOutcome:
    folder = tmp_path_factory.mktemp("full")
    return run_backtest(load_config(write_run_config(config_writer, folder, demo_root)))


@pytest.fixture(scope="module")
def signal_times(demo_root: str) -> dict[str, int]:
    """Each signal id's ts_event, straight from the signal files."""
    frame = pl.concat(pl.read_parquet(signals_path(demo_root, day)) for day in DAYS)
    frame = frame.filter(pl.col("ts_event").is_between(ns(START), ns(END), closed="left"))
    return dict(zip(frame["signal_id"], frame["ts_event"], strict=False))


@pytest.fixture(scope="module")
def windows(signal_times: dict[str, int]) -> list[tuple[int, int]]:
    return signal_windows(signal_times.values(), WINDOW_NS, ns(START), ns(END))


def test_signal_driven_run_writes_the_five_files_and_says_its_mode(
    signal_run: BacktestOutcome, windows: list[tuple[int, int]]
) -> None:
    assert (signal_run.status, signal_run.error) == ("COMPLETED", None)
    names = {path.name for path in Path(signal_run.folder).iterdir()}
    assert {*PARQUET_FILES, SUMMARY_FILE} <= names
    stats = stats_of(signal_run)
    assert stats["mode"] == "signals"
    assert stats["window_secs"] == WINDOW_SECS
    assert stats["windows"] == len(windows)
    assert stats["books_balance"] is True
    for name in (ORDERS_FILE, FILLS_FILE, POSITIONS_FILE, EQUITY_FILE):
        assert read(signal_run.folder, name).height > 0, name


def test_full_run_says_its_mode(full_run: BacktestOutcome) -> None:
    stats = stats_of(full_run)
    assert stats["mode"] == "full"
    assert "windows" not in stats


def test_each_signals_orders_are_created_and_filled_inside_its_window(
    signal_run: BacktestOutcome, signal_times: dict[str, int], windows: list[tuple[int, int]]
) -> None:
    orders = read(signal_run.folder, ORDERS_FILE)
    fills = read(signal_run.folder, FILLS_FILE)
    assert orders.height > 0
    starts = np.array([low for low, _ in windows])
    created_by_order = {}
    for order in orders.iter_rows(named=True):
        ts = signal_times[order["operation_id"]]
        assert ts <= order["created_at"] < ts + WINDOW_NS, order["order_id"]
        low, high = windows[int(np.searchsorted(starts, ts, side="right")) - 1]
        assert low <= order["created_at"] < high, order["order_id"]
        created_by_order[order["order_id"]] = (low, high)
    for fill in fills.iter_rows(named=True):
        low, high = created_by_order[fill["order_id"]]
        assert low <= fill["ts_event"] < high, fill["fill_id"]


def expected_ticks(root: str, windows: list[tuple[int, int]]) -> int:
    """Trades in the windows, plus the last trade before each window (once) and the period's
    last trade, per instrument: what the signal-driven run must feed the engine."""
    total = 0
    for key in INSTRUMENTS:
        frame = pl.concat(pl.read_parquet(trades_path(root, day, key)) for day in DAYS)
        ts = frame.filter(pl.col("ts_event").is_between(ns(START), ns(END), closed="left"))[
            "ts_event"
        ].to_numpy()
        fed = np.zeros(len(ts), dtype=bool)
        for low, high in [*windows, (ns(END), ns(END))]:
            first = int(np.searchsorted(ts, low, side="left"))
            fed[first : int(np.searchsorted(ts, high, side="left"))] = True
            if first > 0:
                fed[first - 1] = True
        total += int(fed.sum())
    return total


def test_run_feeds_exactly_the_windows_trades_and_the_last_trade_before_each(
    signal_run: BacktestOutcome, demo_root: str, windows: list[tuple[int, int]]
) -> None:
    assert stats_of(signal_run)["ticks_processed"] == expected_ticks(demo_root, windows)


def test_fills_equal_the_full_runs_when_the_windows_cover_them(
    signal_run: BacktestOutcome, full_run: BacktestOutcome, signal_times: dict[str, int]
) -> None:
    full_orders = read(full_run.folder, ORDERS_FILE)
    full_fills = read(full_run.folder, FILLS_FILE)
    # The precondition: every fill of the full run lies within its signal's window.
    signal_of = dict(zip(full_orders["order_id"], full_orders["operation_id"], strict=True))
    for fill in full_fills.iter_rows(named=True):
        assert fill["ts_event"] < signal_times[signal_of[fill["order_id"]]] + WINDOW_NS
    for name in (ORDERS_FILE, FILLS_FILE, POSITIONS_FILE):
        full, windowed = read(full_run.folder, name), read(signal_run.folder, name)
        assert full.height > 0
        assert windowed.equals(full), name
    full_summary = json.loads((Path(full_run.folder) / SUMMARY_FILE).read_text())
    windowed_summary = json.loads((Path(signal_run.folder) / SUMMARY_FILE).read_text())
    assert windowed_summary["pnl"] == full_summary["pnl"]
    assert windowed_summary["final_value"] == full_summary["final_value"]


def test_equity_is_marked_between_windows_at_the_last_price_seen(
    signal_run: BacktestOutcome, demo_root: str, windows: list[tuple[int, int]]
) -> None:
    equity = read(signal_run.folder, EQUITY_FILE)
    trade_times = [input_times(demo_root, key) for key in INSTRUMENTS]
    gaps = [
        (high, low)
        for (_, high), (low, _) in itertools.pairwise(windows)
        if low - high > 5 * 60 * NS
    ]
    assert gaps
    for after, before in gaps:
        # The last trade before the next window (fed for its decision price) is the first new
        # mark; until then no tick and no fill, so the value cannot move.
        marked = min(int(ts[np.searchsorted(ts, before, side="left") - 1]) for ts in trade_times)
        inside = equity.filter((pl.col("ts_event") > after) & (pl.col("ts_event") < marked))
        assert inside.height >= 2, "the curve has points between windows"
        assert inside["portfolio_value"].n_unique() == 1


def input_times(root: str, instrument_id: str) -> np.ndarray:
    frame = pl.concat(pl.read_parquet(trades_path(root, day, instrument_id)) for day in DAYS)
    return frame["ts_event"].to_numpy()


def test_signal_driven_reads_far_fewer_bytes_and_ticks_than_full(
    signal_run: BacktestOutcome, full_run: BacktestOutcome
) -> None:
    windowed, full = stats_of(signal_run), stats_of(full_run)
    # Fifteen-minute windows after signals minutes apart overlap (measured: 54% of the bytes,
    # 28% of the ticks); the direction-change mode is for far fewer.
    assert windowed["bytes_read"] < 0.6 * full["bytes_read"]
    assert windowed["ticks_processed"] < 0.35 * full["ticks_processed"]
    assert windowed["row_groups_read"] < 0.5 * full["row_groups_read"]
    # The comparison figures come from the files' metadata, in the same run.
    assert windowed["ticks_in_files"] == full["ticks_processed"]
    assert windowed["bytes_read"] < windowed["bytes_in_files"]


def test_a_period_without_signals_fails_with_one_line(
    config_writer: ConfigWriter,
    demo_root: str,
    tmp_path: Path,
    signal_times: dict[str, int],
) -> None:
    # A 10-minute stretch with no signal in it.
    times = sorted(signal_times.values())
    gap = next(i for i in range(len(times) - 1) if times[i + 1] - times[i] > 20 * 60 * NS)
    start = times[gap] + 5 * 60 * NS
    config = config_writer(
        tmp_path / "config.toml",
        data_root=demo_root,
        results_root=str(tmp_path / "results"),
        backtest={
            "start": _iso(start),
            "end": _iso(start + 10 * 60 * NS),
            "mode": "signals",
        },
    )
    outcome = run_backtest(load_config(config))
    assert outcome.status == "FAILED"
    assert outcome.error is not None and "\n" not in outcome.error
    assert "no target set in" in outcome.error and "signal-driven" in outcome.error


def _iso(ns_value: int) -> str:
    return dt.datetime.fromtimestamp(ns_value / NS, dt.UTC).isoformat()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('mode = "ticks"', "backtest.mode"),
        ("window_secs = 0", "backtest.window_secs"),
        ("window_secs = -5", "backtest.window_secs"),
        ("window_secs = 86401", "backtest.window_secs"),
        ('window_secs = "300"', "backtest.window_secs"),
    ],
)
def test_a_bad_mode_or_window_is_a_one_line_config_error(
    tmp_path: Path, line: str, field: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[backtest]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and field in message


def _args(**options: object) -> argparse.Namespace:
    base = {
        "start": None,
        "end": None,
        "targets": None,
        "instruments": None,
        "data_root": None,
        "results_root": None,
        "mode": None,
        "window_secs": None,
    }
    return argparse.Namespace(**{**base, **options})


def test_command_line_mode_and_window_override_the_config() -> None:
    config = apply_overrides(load_config(None), _args(mode="signals", window_secs=120))
    assert (config.backtest.mode, config.backtest.window_secs) == ("signals", 120)
    config = apply_overrides(load_config(None), _args())
    assert (config.backtest.mode, config.backtest.window_secs) == ("full", 300)


def test_a_bad_window_on_the_command_line_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError) as caught:
        apply_overrides(load_config(None), _args(mode="signals", window_secs=0))
    assert str(caught.value).startswith("command line: backtest.window_secs:")


def test_windows_merge_when_they_overlap_or_touch_and_are_clipped_to_the_period() -> None:
    assert signal_windows([10, 0, 5, 30, 30], 10, 0, 100) == [(0, 20), (30, 40)]
    assert signal_windows([95, -5], 10, 0, 100) == [(0, 5), (95, 100)]
    assert signal_windows([100, 200], 10, 0, 100) == []
    with pytest.raises(ValueError, match="window_ns"):
        signal_windows([1], 0, 0, 100)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda path: path.unlink(), "missing trades file for ETHUSDT.BINANCE on 2026-01-06"),
        (lambda path: path.write_bytes(b"not parquet at all"), "not a readable parquet file"),
    ],
)
def test_a_bad_day_file_fails_the_signal_driven_run_with_one_line_naming_it(
    config_writer: ConfigWriter,
    demo_copy: Path,
    tmp_path: Path,
    damage: Callable[[Path], object],
    problem: str,
) -> None:
    path = Path(trades_path(str(demo_copy), DAYS[1], "ETHUSDT.BINANCE"))
    damage(path)
    config = write_run_config(config_writer, tmp_path, str(demo_copy), mode="signals")
    outcome = run_backtest(load_config(config))
    assert outcome.status == "FAILED"
    assert outcome.error is not None and "\n" not in outcome.error
    assert problem in outcome.error and str(path) in outcome.error


def test_orders_still_filling_after_their_window_are_named_in_the_summary(
    config_writer: ConfigWriter,
    demo_root: str,
    tmp_path: Path,
    signal_run: BacktestOutcome,
    signal_times: dict[str, int],
) -> None:
    # Windows long enough: no order outlives its window.
    assert stats_of(signal_run)["orders_filled_after_their_window"] == []
    # One-minute windows: large orders go on filling in later windows, and the summary says
    # which (recomputed here from the result files and the signals).
    config = write_run_config(config_writer, tmp_path, demo_root, mode="signals", window_secs=60)
    run = run_backtest(load_config(config))
    orders, fills = read(run.folder, ORDERS_FILE), read(run.folder, FILLS_FILE)
    short = signal_windows(signal_times.values(), 60 * NS, ns(START), ns(END))
    starts = np.array([low for low, _ in short])
    window_end = {
        order["order_id"]: short[int(np.searchsorted(starts, order["created_at"], "right")) - 1][1]
        for order in orders.iter_rows(named=True)
    }
    late = sorted(
        {
            fill["order_id"]
            for fill in fills.iter_rows(named=True)
            if fill["ts_event"] >= window_end[fill["order_id"]]
        }
    )
    assert late, "one-minute windows must cut some order short"
    assert stats_of(run)["orders_filled_after_their_window"] == late
