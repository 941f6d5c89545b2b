"""Signal-driven runs that fetch ticks only at direction changes (``[backtest] fetch``).

The rule is checked on its own (``plan_fetch``), then end to end on a copy of the demo data
whose signals are crafted so that the two fetch modes hold the same targets up to a known
signal: one run in each mode, every-signal and direction-change, over the same two days.
What each signal should do is written beside it in ``PATTERN``, not derived from the code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_backtest import ns, read

from console.commands.backtest import apply_overrides
from core.backtest.pipeline import BacktestOutcome, run_backtest
from core.backtest.signal_fetch import plan_fetch, side
from core.config import ConfigError, load_config
from core.data.layout import SIGNAL_SCHEMA, signals_path
from core.data.results import FILLS_FILE, ORDERS_FILE, SUMMARY_FILE
from core.data.signal_windows import signal_windows
from core.execution.strategy import ScheduledTargets

ConfigWriter = Callable[..., Path]  # conftest's config_writer

DAYS = (dt.date(2026, 1, 5), dt.date(2026, 1, 6))  # conftest's demo data
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 7, tzinfo=dt.UTC)
NS = 1_000_000_000
WINDOW_SECS = 900  # longer than the slowest fill of these runs (checked below)
SPACING = dt.timedelta(minutes=90)  # between signals: windows never overlap a next signal
TOLERANCE = 0.02
"""``strategy.weight_tolerance``: the drift of a few hours stays inside it, so a signal that
repeats the targets in force sends nothing in every-signal mode either (checked below)."""

# (BTC weight, ETH weight, fetched?) per signal, every 90 minutes from 00:30 on the first
# day; None: the signal does not list that instrument (it keeps its target).
PATTERN: list[tuple[float | None, float | None, bool]] = [
    (0.0, 0.0, False),  # flat, flat: a run starts flat
    (0.3, 0.0, True),  # BTC long
    (0.3, 0.0, False),
    (0.3, None, False),  # ETH kept
    (None, 0.2, True),  # ETH long
    (0.3, 0.2, False),
    (0.0, 0.2, True),  # BTC flat
    (0.0, None, False),
    (0.25, 0.0, True),  # both flip
    (0.25, 0.0, False),
    (0.0, 0.0, True),  # BTC flat
    (0.0, 0.0, False),
    (0.3, 0.3, True),
    (0.3, 0.3, False),
    (0.3, 0.3, False),
    (0.2, 0.35, False),  # new weights, same sides: every-signal mode trades from here on
    (0.2, 0.35, False),
    (0.0, 0.35, True),  # BTC flat
    (0.1, 0.35, True),  # BTC long again
    (0.1, 0.0, True),  # ETH flat
    (0.4, 0.0, False),
]
DIVERGES_AT = 15
"""The first skipped signal whose weights differ from those in force: before it, both modes
hold the same targets at every signal."""


def _signal_frame(rows: list[tuple[int, str, str, float]]) -> pa.Table:
    ts, ids, instruments, weights = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.table(
        {
            "ts_event": list(ts),
            "signal_id": list(ids),
            "strategy_id": ["crafted"] * len(rows),
            "instrument_id": list(instruments),
            "target_weight": list(weights),
        },
        schema=SIGNAL_SCHEMA,
    )


def signal_id(index: int) -> str:
    return f"SIG-CRAFTED-{index + 1:03d}"


def signal_ts(index: int) -> int:
    return ns(START + dt.timedelta(minutes=30) + index * SPACING)


def write_crafted_signals(root: Path) -> None:
    """Replace the demo's signal files with ``PATTERN``."""
    by_day: dict[dt.date, list[tuple[int, str, str, float]]] = {day: [] for day in DAYS}
    for index, (btc, eth, _) in enumerate(PATTERN):
        ts = signal_ts(index)
        day = dt.datetime.fromtimestamp(ts / NS, dt.UTC).date()
        for instrument, weight in ((BTC, btc), (ETH, eth)):
            if weight is not None:
                by_day[day].append((ts, signal_id(index), instrument, weight))
    for day, rows in by_day.items():
        pq.write_table(_signal_frame(rows), signals_path(str(root), day))


@pytest.fixture(scope="module")
def crafted_root(demo_root: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crafted") / "data"
    shutil.copytree(demo_root, root)
    write_crafted_signals(root)
    return root


def run(config_writer: ConfigWriter, folder: Path, data_root: str, fetch: str) -> BacktestOutcome:
    config = config_writer(
        folder / "config.toml",
        data_root=data_root,
        results_root=str(folder / "results"),
        backtest={
            "start": START.isoformat(),
            "end": END.isoformat(),
            "mode": "signals",
            "window_secs": WINDOW_SECS,
            "fetch": fetch,
        },
        strategy={"weight_tolerance": TOLERANCE},
    )
    outcome = run_backtest(load_config(config))
    assert (outcome.status, outcome.error) == ("COMPLETED", None)
    return outcome


@pytest.fixture(scope="module")
def every_signal(
    config_writer: ConfigWriter, crafted_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> BacktestOutcome:
    folder = tmp_path_factory.mktemp("every-signal")
    return run(config_writer, folder, str(crafted_root), "every-signal")


@pytest.fixture(scope="module")
def direction_change(
    config_writer: ConfigWriter, crafted_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> BacktestOutcome:
    folder = tmp_path_factory.mktemp("direction-change")
    return run(config_writer, folder, str(crafted_root), "direction-change")


def stats_of(outcome: BacktestOutcome) -> dict:
    return json.loads((Path(outcome.folder) / SUMMARY_FILE).read_text())["execution_stats"]


FETCHED = [i for i, (_, _, fetched) in enumerate(PATTERN) if fetched]


def test_direction_change_skips_exactly_the_signals_that_change_no_side(
    direction_change: BacktestOutcome,
) -> None:
    stats = stats_of(direction_change)
    assert stats["fetch"] == "direction-change"
    assert stats["signals"] == len(PATTERN)
    assert stats["signals_fetched"] == len(FETCHED)
    assert stats["signals_skipped_same_side"] == len(PATTERN) - len(FETCHED)
    times = [signal_ts(i) for i in FETCHED]
    assert stats["windows"] == len(signal_windows(times, WINDOW_SECS * NS, ns(START), ns(END)))
    # A skipped signal is not applied: no order answers it; every fetched one trades (each
    # of them opens or closes a position).
    orders = read(direction_change.folder, ORDERS_FILE)
    assert set(orders["operation_id"]) == {signal_id(i) for i in FETCHED}


def test_every_signal_mode_fetches_and_applies_every_signal(
    every_signal: BacktestOutcome,
) -> None:
    stats = stats_of(every_signal)
    assert stats["fetch"] == "every-signal"
    assert (stats["signals_fetched"], stats["signals_skipped_same_side"]) == (len(PATTERN), 0)
    assert stats["windows"] == len(PATTERN)
    orders = read(every_signal.folder, ORDERS_FILE)
    assert signal_id(DIVERGES_AT) in set(orders["operation_id"])  # same sides, new weights


def test_orders_equal_every_signal_modes_while_both_hold_the_same_targets(
    every_signal: BacktestOutcome, direction_change: BacktestOutcome
) -> None:
    diverges = signal_ts(DIVERGES_AT)
    before = pl.col("created_at") < diverges
    full_orders = read(every_signal.folder, ORDERS_FILE).filter(before)
    # The preconditions: every-signal mode sent nothing at the signals that repeat the targets
    # in force, and each order filled whole inside its window, so at every fetched signal
    # the two runs hold the same positions and cash.
    skipped = {signal_id(i) for i in range(DIVERGES_AT) if i not in FETCHED}
    assert not skipped & set(full_orders["operation_id"])
    assert set(full_orders["status"]) == {"FILLED"}
    full_fills = read(every_signal.folder, FILLS_FILE).filter(pl.col("ts_event") < diverges)
    created = dict(zip(full_orders["order_id"], full_orders["created_at"], strict=True))
    for fill in full_fills.iter_rows(named=True):
        assert fill["ts_event"] < created[fill["order_id"]] + WINDOW_SECS * NS
    assert len(set(full_orders["operation_id"])) == len([i for i in FETCHED if i < DIVERGES_AT])

    orders = read(direction_change.folder, ORDERS_FILE).filter(before)
    fills = read(direction_change.folder, FILLS_FILE).filter(pl.col("ts_event") < diverges)
    assert orders.equals(full_orders)
    assert fills.equals(full_fills)
    # After it, every-signal mode rebalanced to new weights that direction-change mode never
    # applied: the runs part (the docs say how).
    later = read(direction_change.folder, ORDERS_FILE).filter(~before)
    full_later = read(every_signal.folder, ORDERS_FILE).filter(~before)
    assert later.height < full_later.height


def test_both_modes_books_balance(
    every_signal: BacktestOutcome, direction_change: BacktestOutcome
) -> None:
    for outcome in (every_signal, direction_change):
        assert stats_of(outcome)["books_balance"] is True, outcome.folder


def test_direction_change_reads_fewer_bytes_and_ticks(
    every_signal: BacktestOutcome, direction_change: BacktestOutcome
) -> None:
    every, changes = stats_of(every_signal), stats_of(direction_change)
    assert changes["bytes_read"] < every["bytes_read"]
    assert changes["ticks_processed"] < every["ticks_processed"]
    assert changes["window_seconds_total"] == len(FETCHED) * WINDOW_SECS


def demo_expected_fetched(root: str) -> list[str]:
    """The demo signals that change a side, walked straight from the signal files."""
    frame = pl.concat(pl.read_parquet(signals_path(root, day)) for day in DAYS)
    frame = frame.filter(pl.col("ts_event").is_between(ns(START), ns(END), closed="left"))
    sides: dict[str, float] = {}
    fetched = []
    for (signal,), rows in frame.group_by("signal_id", maintain_order=True):
        new = {row["instrument_id"]: np.sign(row["target_weight"]) for row in rows.to_dicts()}
        if any(sides.get(key, 0.0) != value for key, value in new.items()):
            fetched.append(str(signal))
        sides |= new
    return fetched


def test_on_the_demo_signals_only_side_changes_are_fetched(
    config_writer: ConfigWriter, demo_root: str, tmp_path: Path
) -> None:
    outcome = run(config_writer, tmp_path, demo_root, "direction-change")
    stats = stats_of(outcome)
    expected = demo_expected_fetched(demo_root)
    assert stats["signals_fetched"] == len(expected)
    assert stats["signals_skipped_same_side"] == stats["signals"] - len(expected)
    assert set(read(outcome.folder, ORDERS_FILE)["operation_id"]) <= set(expected)
    assert stats["books_balance"] is True


def test_a_period_whose_signals_change_no_side_fails_with_one_line(
    config_writer: ConfigWriter, crafted_root: Path, tmp_path: Path
) -> None:
    # The first signal says flat, flat: from a flat start it changes nothing.
    config = config_writer(
        tmp_path / "config.toml",
        data_root=str(crafted_root),
        results_root=str(tmp_path / "results"),
        backtest={
            "start": START.isoformat(),
            "end": dt.datetime.fromtimestamp(signal_ts(1) / NS, dt.UTC).isoformat(),
            "mode": "signals",
            "fetch": "direction-change",
        },
    )
    outcome = run_backtest(load_config(config))
    assert outcome.status == "FAILED"
    assert outcome.error is not None and "\n" not in outcome.error
    assert "changes a side" in outcome.error and "backtest.fetch" in outcome.error


def targets(ts: int, weights: Mapping[str, float]) -> ScheduledTargets:
    return ScheduledTargets(ts, f"S{ts}", weights)


def test_a_side_is_the_sign_of_the_weight() -> None:
    assert [side(w) for w in (0.4, 1e-9, 0.0, -0.0, -1e-9, -0.2)] == [1, 1, 0, 0, -1, -1]


def test_plan_fetch_keeps_the_signals_that_change_some_instruments_side() -> None:
    signals = [
        targets(1, {"A": 0.0}),  # flat from a flat start
        targets(2, {"A": 0.1, "B": 0.0}),  # A long
        targets(3, {"A": 0.5}),  # still long
        targets(4, {"B": -0.1}),  # B short (A kept long)
        targets(5, {"A": 0.2, "B": -0.3}),  # same sides
        targets(6, {"A": -0.2}),  # long to short
        targets(7, {"A": 0.0, "B": -0.3}),  # A flat
        targets(8, {"C": 0.0}),  # a new instrument, flat: nothing to decide
        targets(8, {"C": 0.1}),  # same instant, applied in order: C long
        targets(8, {"C": 0.0}),  # and back to flat: a change again
    ]
    plan = plan_fetch(signals, "direction-change")
    assert [s.operation_id for s in plan.fetched] == ["S2", "S4", "S6", "S7", "S8", "S8"]
    assert plan.fetched[-2:] == signals[-2:]
    assert plan.skipped_same_side == 4
    assert plan.stats("direction-change") == {
        "fetch": "direction-change",
        "signals_fetched": 6,
        "signals_skipped_same_side": 4,
    }
    every = plan_fetch(signals, "every-signal")
    assert (every.fetched, every.skipped_same_side) == (signals, 0)
    with pytest.raises(ValueError, match="fetch"):
        plan_fetch(signals, "sometimes")


def test_a_bad_fetch_is_a_one_line_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[backtest]\nfetch = "on-change"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and "backtest.fetch" in message


def test_the_command_line_fetch_overrides_the_config() -> None:
    options = dict.fromkeys(
        ("start", "end", "targets", "instruments", "data_root", "results_root", "mode")
    )
    config = apply_overrides(
        load_config(None), argparse.Namespace(**options, fetch="direction-change")
    )
    assert config.backtest.fetch == "direction-change"
    assert load_config(None).backtest.fetch == "every-signal"
