"""Backtests feed the OMS: the run's life in ``runs``, its trading in the trading tables.

Small real backtests on the session's demo data, each with its own OMS file. What the OMS holds
is compared with the run's own result files: the same order ids with the same quantities, the
same fills. A failed run and an OMS that cannot be opened must still end as the backtest would
without the OMS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl
import pytest
from console_seed import heartbeat

from core.backtest.node_guard import NOT_RECORDED_BESIDE_NODE, STOPPED_WHEN_NODE_STARTED
from core.backtest.pipeline import BacktestOutcome, Progress, run_backtest
from core.config import load_config
from core.data.results import FILLS_FILE, ORDERS_FILE, SUMMARY_FILE
from core.oms import OmsStore, RunState
from core.oms.health import NODE_STALE_AFTER_S

ConfigWriter = Callable[..., Path]  # conftest's config_writer

# Nautilus's BacktestNode calls a pandas API deprecated in pandas 3 on every run.
pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


SHORT = ("2026-01-05T00:00:00", "2026-01-05T03:00:00")  # three hours: a few orders


Backtest = Callable[..., BacktestOutcome]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "oms.sqlite"


@pytest.fixture
def backtest(
    config_writer: ConfigWriter, demo_root: str, tmp_path: Path, database: Path
) -> Backtest:
    """Run a backtest over ``window`` of the demo data, its OMS at ``database``."""

    def run(
        window: tuple[str, str] = SHORT,
        progress: Callable[[Progress], None] | None = None,
        oms: Mapping[str, bool] | None = None,
    ) -> BacktestOutcome:
        start, end = window
        path = config_writer(
            tmp_path / f"{start[:13]}.toml",
            data_root=demo_root,
            results_root=str(tmp_path / "results"),
            backtest={"start": start, "end": end},
            oms={"database": str(database), **(oms or {})},
        )
        return run_backtest(load_config(path), progress=progress)

    return run


async def _read(database: Path) -> tuple[list, list, list[RunState], dict[str, int]]:
    async with await OmsStore.open(database, read_only=True) as store:
        return (
            await store.orders(limit=10_000),
            await store.fills(limit=10_000),
            await store.runs(),
            await store.counts(),
        )


def read_oms(database: Path) -> tuple[list, list, list[RunState], dict[str, int]]:
    return asyncio.run(_read(database))


def assert_oms_holds_the_run(database: Path, outcome: BacktestOutcome) -> None:
    orders, fills, _, counts = read_oms(database)
    expected_orders = pl.read_parquet(Path(outcome.folder) / ORDERS_FILE)
    expected_fills = pl.read_parquet(Path(outcome.folder) / FILLS_FILE)
    assert expected_orders.height > 0
    assert sorted((o.client_order_id, o.quantity, o.status) for o in orders) == sorted(
        expected_orders.select("order_id", "quantity", "status").iter_rows()
    )
    assert sorted(
        (f"{f.client_order_id}-{f.trade_id}", f.client_order_id, f.quantity, f.price) for f in fills
    ) == sorted(expected_fills.select("fill_id", "order_id", "quantity", "price").iter_rows())
    assert {o.run_id for o in orders} | {f.run_id for f in fills} == {outcome.run_id}
    assert counts["positions"] > 0
    assert counts["balances"] > 0


def test_a_backtest_leaves_its_run_and_its_trading_in_the_oms(
    backtest: Backtest, database: Path
) -> None:
    seen: set[str] = set()

    def peek(progress: Progress) -> None:
        # Another reader, as the dashboard would be: the run shows while it runs.
        if progress.phase == "writing" and database.exists():
            with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as reader:
                seen.update(row[0] for row in reader.execute("SELECT state FROM runs"))

    outcome = backtest(("2026-01-05T00:00:00", "2026-01-05T12:00:00"), peek)
    assert outcome.status == "COMPLETED"
    assert "oms" not in outcome.summary["execution_stats"]
    _, _, runs, _ = read_oms(database)
    (run,) = runs
    assert (run.run_id, run.state, run.result_folder, run.error) == (
        outcome.run_id,
        "COMPLETED",
        outcome.folder,
        None,
    )
    assert (run.progress, run.phase) == (1.0, None)
    assert run.started_at is not None and run.started_at <= run.updated_at
    assert seen == {"RUNNING"}
    assert_oms_holds_the_run(database, outcome)

    # The next backtest replaces this one's trading rows; the runs table keeps both runs.
    second = backtest(("2026-01-05T12:00:00", "2026-01-06T00:00:00"))
    assert second.status == "COMPLETED"
    assert_oms_holds_the_run(database, second)
    _, _, runs, _ = read_oms(database)
    assert sorted((r.run_id, r.state) for r in runs) == [
        (outcome.run_id, "COMPLETED"),
        (second.run_id, "COMPLETED"),
    ]


def test_a_failed_backtest_is_failed_in_the_oms_with_its_error(
    backtest: Backtest, database: Path
) -> None:
    outcome = backtest(("2027-03-01T00:00:00", "2027-03-02T00:00:00"))  # no data there
    assert outcome.status == "FAILED"
    orders, _, runs, _ = read_oms(database)
    (run,) = runs
    assert (run.run_id, run.state, run.result_folder, run.error) == (
        outcome.run_id,
        "FAILED",
        outcome.folder,
        outcome.error,
    )
    assert orders == []


def test_without_record_backtests_only_the_run_reaches_the_oms(
    backtest: Backtest, database: Path
) -> None:
    outcome = backtest(oms={"record_backtests": False})
    assert outcome.status == "COMPLETED"
    orders, fills, runs, counts = read_oms(database)
    assert [(r.run_id, r.state) for r in runs] == [(outcome.run_id, "COMPLETED")]
    assert (orders, fills, counts["balances"]) == ([], [], 0)


async def _beat(database: Path, age_s: float) -> None:
    """A node's heartbeat in the OMS, ``age_s`` seconds old (as the node writes it)."""
    async with await OmsStore.open(database) as store:
        store.submit(heartbeat(ts_event=time.time_ns() - int(age_s * 1e9)))
        await store.flush()


def test_beside_a_running_node_a_backtest_keeps_its_trading_out_of_the_oms(
    backtest: Backtest, database: Path
) -> None:
    # The node's panes read these tables: a backtest's fills there would read as the node's.
    asyncio.run(_beat(database, age_s=0.5))
    outcome = backtest()
    assert outcome.status == "COMPLETED"
    orders, fills, runs, counts = read_oms(database)
    assert [(r.run_id, r.state) for r in runs] == [(outcome.run_id, "COMPLETED")]
    assert (orders, fills, counts["balances"], counts["positions"]) == ([], [], 0, 0)
    assert outcome.summary["execution_stats"]["oms_trading"] == NOT_RECORDED_BESIDE_NODE
    assert "oms" not in outcome.summary["execution_stats"]  # not a problem, a choice


def test_a_node_starting_mid_run_stops_the_backtests_trading_and_clears_it(
    backtest: Backtest, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.backtest.node_guard.CHECK_INTERVAL_S", 0.0)  # check at every sample
    written_before: list[int] = []

    def node_starts_halfway(progress: Progress) -> None:
        halfway = progress.phase == "running" and progress.done * 2 >= progress.total > 0
        if halfway and not written_before:
            with sqlite3.connect(database) as reader:
                (count,) = reader.execute("SELECT count(*) FROM orders").fetchone()
            written_before.append(count)
            asyncio.run(_beat(database, age_s=0.0))  # the node's first heartbeat

    outcome = backtest(("2026-01-05T00:00:00", "2026-01-05T12:00:00"), node_starts_halfway)
    assert outcome.status == "COMPLETED"
    assert written_before and written_before[0] > 0  # it was recording until then
    orders, fills, runs, _ = read_oms(database)
    assert (orders, fills) == ([], [])
    assert [(r.run_id, r.state) for r in runs] == [(outcome.run_id, "COMPLETED")]
    assert outcome.summary["execution_stats"]["oms_trading"] == STOPPED_WHEN_NODE_STARTED


def test_a_stale_heartbeat_is_no_node_and_the_backtest_records_its_trading(
    backtest: Backtest, database: Path
) -> None:
    asyncio.run(_beat(database, age_s=NODE_STALE_AFTER_S + 5))  # a node that stopped
    outcome = backtest()
    assert outcome.status == "COMPLETED"
    assert "oms_trading" not in outcome.summary["execution_stats"]
    assert_oms_holds_the_run(database, outcome)


def test_an_oms_that_cannot_be_opened_does_not_fail_the_backtest(
    backtest: Backtest, database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database.mkdir()  # a folder where the database file should be
    with caplog.at_level(logging.WARNING, logger="core.oms"):
        outcome = backtest()
    assert outcome.status == "COMPLETED"
    note = outcome.summary["execution_stats"]["oms"]
    written = json.loads((Path(outcome.folder) / SUMMARY_FILE).read_text())
    assert written["execution_stats"]["oms"] == note
    assert note.startswith("OMS not recorded: ")
    assert "a folder is where the OMS database file should be" in note
    assert str(database) in note
    assert "\n" not in note
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"backtest {outcome.run_id}: {note}"]
    assert outcome.summary["execution_stats"]["orders"] > 0
    assert database.is_dir() and not any(database.iterdir())
