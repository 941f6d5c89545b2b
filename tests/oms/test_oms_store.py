"""The OMS store on both back ends (a real SQLite file, a real PostgreSQL server): idempotent
ingestion, batching, readers, notifications."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from pathlib import Path

import msgspec
import pytest
from oms_records import BTC, T0, fill, order_event

from core.oms import (
    AuditEntry,
    BacktestStarted,
    BalanceSnapshot,
    Commit,
    DriftObservation,
    Fill,
    NodeStarted,
    OmsError,
    OmsStore,
    PositionSnapshot,
    RiskAlert,
    RunState,
    UploadState,
)


def position(sequence: int, ts: int, quantity: float) -> PositionSnapshot:
    return PositionSnapshot(
        position_id="BTCUSDT.BINANCE-REBAL-001",
        event_id=f"p{sequence}",
        event_type="OPENED" if sequence == 1 else "CHANGED",
        sequence=sequence,
        ts_event=T0 + ts,
        instrument_id=BTC,
        strategy_id="REBAL-001",
        account_id="BINANCE-001",
        side="LONG",
        signed_qty=quantity,
        quantity=quantity,
        avg_px_open=94_000.0,
        last_px=94_000.0,
        last_qty=quantity,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        currency="USDT",
        ts_opened=T0,
    )


def one_of_each(ts: int = 0) -> list:
    first = fill(1)
    return [
        order_event("O-1", 1, "INITIALIZED"),
        first,
        position(1, 0, 0.25),
        BalanceSnapshot(
            account_id="BINANCE-001",
            currency="USDT",
            total=100.0,
            locked=0.0,
            free=100.0,
            ts_event=T0 + ts,
            event_id="a1",
            account_type="CASH",
        ),
        DriftObservation.measure(first, 94_000.0, "decision", 0.5),
        RiskAlert(
            alert_id="r1",
            ts_event=T0,
            severity="WARNING",
            rule="order_denied",
            message="O-2 denied",
            details={"reason": "NOTIONAL"},
        ),
        UploadState(file="logs/a.log", state="queued", size=10, updated_at=T0 + ts),
        RunState(run_id="BT-20260105-001", state="RUNNING", updated_at=T0 + ts, progress=0.5),
        AuditEntry(
            entry_id="x1", ts=T0, actor="ops", action="kill", reason="test", details={"n": 1}
        ),
    ]


ONE_ROW_EACH = {
    "orders": 1,
    "order_events": 1,
    "fills": 1,
    "positions": 1,
    "position_events": 1,
    "balances": 1,
    "drift_observations": 1,
    "risk_alerts": 1,
    "uploads": 1,
    "runs": 1,
    "audit_log": 1,
}


@pytest.fixture
async def store(oms_location: str):
    async with await OmsStore.open(oms_location) as opened:
        yield opened


async def test_the_same_records_twice_are_one_row_each(store: OmsStore) -> None:
    store.submit_many(one_of_each())
    store.submit_many(one_of_each())  # in the same transaction
    await store.flush()
    store.submit_many(one_of_each())  # in a later one
    await store.flush()
    counts = await store.counts()
    assert {name: counts[name] for name in ONE_ROW_EACH} == ONE_ROW_EACH


async def test_records_read_back_equal_to_what_was_written(store: OmsStore) -> None:
    records = one_of_each()
    store.submit_many(records)
    await store.flush()
    read = [
        *(await store.orders()),
        *(await store.fills()),
        *(await store.positions()),
        *(await store.balances()),
        *(await store.drift()),
        *(await store.alerts()),
        *(await store.uploads()),
        *(await store.runs()),
        *(await store.audit()),
    ]
    assert read == records


async def test_an_order_row_is_its_latest_event_whatever_the_arrival_order(
    store: OmsStore,
) -> None:
    store.submit_many(
        [
            order_event("O-1", 1, "INITIALIZED"),
            order_event("O-1", 3, "FILLED"),
            order_event("O-1", 2, "SUBMITTED"),  # late: must not roll the order back
        ]
    )
    await store.flush()
    store.submit(order_event("O-1", 1, "INITIALIZED"))  # replayed much later
    await store.flush()
    (order,) = await store.orders()
    assert (order.status, order.sequence, order.filled_qty) == ("FILLED", 3, 0.5)
    history = await store.order_history("O-1")
    assert [e.status for e in history] == ["INITIALIZED", "SUBMITTED", "FILLED"]


async def test_state_tables_ignore_older_records(store: OmsStore) -> None:
    store.submit_many(
        [
            UploadState(file="a.log", state="done", size=10, updated_at=T0 + 20, md5="abc"),
            UploadState(file="a.log", state="uploading", size=10, updated_at=T0 + 10),
            RunState(run_id="BT-1", state="COMPLETED", updated_at=T0 + 20, progress=1.0),
            RunState(run_id="BT-1", state="RUNNING", updated_at=T0 + 10, progress=0.3),
            position(2, 10, 0.5),
            position(1, 10, 0.25),  # same instant, fewer fills: older
            position(3, 5, 0.1),  # earlier instant: older
        ]
    )
    await store.flush()
    (upload,) = await store.uploads()
    (run,) = await store.runs()
    (current,) = await store.positions()
    assert (upload.state, upload.md5) == ("done", "abc")
    assert (run.state, run.progress) == ("COMPLETED", 1.0)
    assert (current.sequence, current.quantity) == (2, 0.5)
    assert len(await store.position_timeline()) == 3


async def test_submit_only_queues_and_flush_commits_in_few_transactions(
    store: OmsStore,
) -> None:
    for index in range(1_000):
        store.submit(fill(index))
    assert store.stats.committed == 0  # submit did no I/O
    assert store.stats.pending == 1_000
    await store.flush()
    assert store.stats.pending == 0
    assert (await store.counts())["fills"] == 1_000
    assert store.stats.batches <= 3  # batches of 500


async def test_the_event_loop_runs_while_a_burst_is_written(store: OmsStore) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    store.submit_many([fill(index) for index in range(20_000)])
    before = ticks
    await store.flush()
    task.cancel()
    # SQL runs in aiosqlite's thread, or on the server: the loop kept turning while 40
    # transactions committed
    assert ticks - before >= store.stats.batches
    assert (await store.counts())["fills"] == 20_000


async def test_submit_is_safe_from_other_threads(store: OmsStore) -> None:
    def produce(offset: int) -> None:
        for index in range(500):
            store.submit(fill(offset + index))

    threads = [threading.Thread(target=produce, args=(n * 1_000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    await store.flush()
    assert (await store.counts())["fills"] == 2_000


async def test_a_refused_record_is_set_aside_and_its_batch_written(store: OmsStore) -> None:
    broken = Fill(**{**_as_dict(fill(2)), "trade_id": None})  # NULL key: the table refuses it
    store.submit_many([fill(1), broken, fill(3)])
    await store.flush()
    assert [f.trade_id for f in await store.fills()] == ["T-3", "T-1"]
    assert store.stats.rejected == 1
    assert re.search("not.null", store.stats.last_error or "", re.IGNORECASE)


async def test_a_write_blocked_by_another_process_is_kept_and_retried(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    async with await OmsStore.open(path, busy_timeout_ms=20) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        store.submit(fill(1))
        with pytest.raises(OmsError, match=r"locked.*1 records kept and retried"):
            await store.flush()
        assert store.stats.failures >= 1
        other.execute("ROLLBACK")
        other.close()
        await store.flush()
        assert [f.trade_id for f in await store.fills()] == ["T-1"]
        assert store.stats.last_error is None


async def test_listeners_hear_each_commit_with_its_tables(store: OmsStore) -> None:
    heard: list[Commit] = []
    remove = store.add_listener(heard.append)
    store.submit(fill(1))
    store.submit(order_event("O-1", 1, "INITIALIZED"))
    version = await store.flush()
    remove()
    store.submit(fill(2))
    await store.flush()
    assert len(heard) == 1
    assert heard[0].tables == {"fills", "orders", "order_events"}
    assert (heard[0].version, heard[0].records, heard[0].committed) == (version, 2, 2)


async def test_changes_since_names_only_tables_written_after_a_version(store: OmsStore) -> None:
    store.submit(fill(1))
    first = await store.flush()
    store.submit(AuditEntry.now("ops", "rearm", "back to normal"))
    second = await store.flush()
    assert second > first
    changes = await store.changes_since(first)
    assert (changes.version, changes.tables) == (second, {"audit_log"})
    assert (await store.changes_since(second)).tables == frozenset()


async def test_a_second_store_on_the_same_file_sees_commits(store: OmsStore) -> None:
    async with await OmsStore.open(store.path, read_only=True) as second:
        # From the version before the write: under load the watch's first read could
        # otherwise come after the commit and take it as its starting point.
        watch = second.watch(since=await second.version(), interval=0.01)
        pending = asyncio.ensure_future(anext(watch))
        store.submit(fill(1))
        await store.flush()
        changes = await asyncio.wait_for(pending, 5)
        await watch.aclose()
        assert "fills" in changes.tables
        assert [f.trade_id for f in await second.fills()] == ["T-1"]
        with pytest.raises(OmsError, match="read-only"):
            second.submit(fill(2))


async def test_orders_lists_open_ones_first_then_recent_ones_bounded(store: OmsStore) -> None:
    for n in range(10):  # older orders, all filled
        store.submit(order_event(f"F-{n}", 2, "FILLED", ts=n))
    store.submit(order_event("OPEN-old", 1, "SUBMITTED", ts=-100))
    store.submit(order_event("OPEN-new", 1, "ACCEPTED", ts=-50))
    await store.flush()
    orders = await store.orders(limit=5)
    assert [o.client_order_id for o in orders] == ["OPEN-new", "OPEN-old", "F-9", "F-8", "F-7"]
    assert [o.is_open for o in orders] == [True, True, False, False, False]
    assert (await store.counts())["open_orders"] == 2


async def test_uploads_not_done_come_first(store: OmsStore) -> None:
    store.submit_many(
        [
            UploadState(file="old-failed", state="failed", size=1, updated_at=T0, retries=3),
            UploadState(file="new-done", state="done", size=1, updated_at=T0 + 9),
            UploadState(file="queued", state="queued", size=1, updated_at=T0 + 5),
        ]
    )
    await store.flush()
    assert [u.file for u in await store.uploads()] == ["queued", "old-failed", "new-done"]
    counts = await store.counts()
    assert (counts["active_uploads"], counts["failed_uploads"]) == (2, 1)
    # The Health pane's cheap per-second query agrees with the full count.
    assert await store.upload_counts() == {
        "uploads": 3,
        "active_uploads": 2,
        "failed_uploads": 1,
    }


def upload_to(file: str, destination: str | None, state: str = "done") -> UploadState:
    return UploadState(file=file, state=state, size=1, updated_at=T0, destination=destination)


async def test_uploads_are_counted_per_destination_folder_else_file_folder(
    store: OmsStore,
) -> None:
    store.submit_many(
        [
            upload_to("/r/BT-1/summary.json", "gs://b/desk/BT-1/summary.json"),
            upload_to("/r/BT-1/fills.parquet", "gs://b/desk/BT-1/fills.parquet", "failed"),
            upload_to("/r/BT-1/orders.parquet", "gs://b/desk/BT-1/orders.parquet", "queued"),
            upload_to("/r/XBT-1/summary.json", "gs://b/desk/XBT-1/summary.json"),
            upload_to("/logs/node.log", None, "uploading"),  # no destination: the file's folder
            upload_to("/logs/other.log", "", "uploading"),  # an empty one counts as none
            upload_to("loose.txt", None),  # no folder at all
        ]
    )
    await store.flush()
    assert await store.upload_folders() == {
        "gs://b/desk/BT-1": {"done": 1, "failed": 1, "queued": 1},
        "gs://b/desk/XBT-1": {"done": 1},
        "/logs": {"uploading": 2},
        "": {"done": 1},
    }


async def test_uploads_in_folder_are_one_runs_files_and_no_lookalikes(store: OmsStore) -> None:
    store.submit_many(
        [
            upload_to("/r/BT_1/a", "gs://b/BT_1/a"),
            upload_to("/r/BT_1/b", None),
            upload_to("/r/BTx1/a", "gs://b/BTx1/a"),  # "_" is no wildcard here
            upload_to("/r/XBT_1/a", "gs://b/XBT_1/a"),  # a run whose id ends with ours
            upload_to("/r/BT_1/deeper/a", "gs://b/BT_1/deeper/a"),  # not directly in it
            upload_to("BT_1/c", None),  # a relative path
        ]
    )
    await store.flush()
    found = sorted((u.file, u.destination) for u in await store.uploads_in_folder("BT_1"))
    assert found == [
        ("/r/BT_1/a", "gs://b/BT_1/a"),
        ("/r/BT_1/b", None),
        ("BT_1/c", None),
    ]
    assert await store.uploads_in_folder("%") == []


async def test_close_writes_what_is_still_queued(oms_location: str) -> None:
    store = await OmsStore.open(oms_location)
    store.submit_many([fill(index) for index in range(700)])
    await store.close()
    with pytest.raises(OmsError, match="closed"):
        store.submit(fill(1))
    async with await OmsStore.open(oms_location, read_only=True) as again:
        assert (await again.counts())["fills"] == 700


async def test_submit_refuses_what_is_not_a_record(store: OmsStore) -> None:
    with pytest.raises(TypeError, match="not an OMS record: dict"):
        store.submit({"trade_id": "T-1"})  # type: ignore[arg-type]


def test_records_refuse_values_the_oms_defines_otherwise() -> None:
    with pytest.raises(ValueError, match=r"UploadState.state: 'sent'"):
        UploadState(file="a", state="sent", size=1, updated_at=T0)
    with pytest.raises(ValueError, match=r"RunState.progress: 1.5"):
        RunState(run_id="BT-1", state="RUNNING", updated_at=T0, progress=1.5)
    with pytest.raises(ValueError, match=r"AuditEntry.action: 'reboot'"):
        AuditEntry.now("ops", "reboot", "why not")
    with pytest.raises(ValueError, match=r"RiskAlert.severity: 'LOUD'"):
        RiskAlert(alert_id="a", ts_event=T0, severity="LOUD", rule="r", message="m")


def test_drift_is_signed_as_a_cost_for_both_sides() -> None:
    buy = fill(0)  # BUY at 94,000
    sell = Fill(**{**_as_dict(buy), "side": "SELL"})
    assert DriftObservation.measure(buy, 93_906.0, "decision", 5.0).drift_bps == pytest.approx(
        10.01, abs=0.01
    )
    worse_sell = DriftObservation.measure(sell, 94_094.0, "decision", 5.0)
    assert worse_sell.drift_bps == pytest.approx(9.99, abs=0.01)
    assert worse_sell.over_threshold
    assert not DriftObservation.measure(sell, 93_990.0, "mid", 5.0).over_threshold


def _as_dict(record: Fill) -> dict:
    return {name: getattr(record, name) for name in record.__struct_fields__}


def backtest_rows(run_id: str, order_id: str, index: int) -> list:
    """One row of each table a backtest feeds, keyed apart from ``one_of_each``'s."""
    own_fill = fill(index, order_id)
    records = [
        order_event(order_id, 1, "INITIALIZED"),
        own_fill,
        msgspec.structs.replace(position(1, 0, 0.25), position_id=f"P-{order_id}"),
        msgspec.structs.replace(one_of_each()[3], account_id=f"SIM-{order_id}"),
        DriftObservation.measure(own_fill, 94_000.0, "decision", 0.5),
        RiskAlert(
            alert_id=f"r-{order_id}",
            ts_event=T0,
            severity="WARNING",
            rule="order_denied",
            message="denied",
        ),
    ]
    return [msgspec.structs.replace(r, run_id=run_id) for r in records]


async def test_a_backtest_starting_clears_earlier_backtests_rows_only(store: OmsStore) -> None:
    store.submit_many(
        [
            *one_of_each(),  # the node's rows: kept
            *backtest_rows("BT-1", "B1", 7),
            *backtest_rows("BT-2", "OLD", 6),  # another results root's BT-2: cleared too
        ]
    )
    await store.flush()
    assert (await store.counts())["orders"] == 3
    # In one batch: BT-1's last rows come before BT-2's start, BT-2's first rows after it.
    store.submit_many(
        [
            *backtest_rows("BT-1", "B1-late", 9),
            BacktestStarted(run_id="BT-2"),
            *backtest_rows("BT-2", "B2", 8),
        ]
    )
    await store.flush()
    counts = await store.counts()
    fed = ("orders", "order_events", "fills", "positions", "position_events", "balances")
    assert {name: counts[name] for name in fed} == dict.fromkeys(fed, 2)
    assert (counts["drift_observations"], counts["risk_alerts"]) == (2, 2)
    assert sorted((o.client_order_id, o.run_id) for o in await store.orders()) == [
        ("B2", "BT-2"),
        ("O-1", None),
    ]
    assert {r.run_id for r in await store.alerts()} == {None, "BT-2"}
    assert (counts["uploads"], counts["runs"], counts["audit_log"]) == (1, 1, 1)


async def test_a_node_starting_clears_every_backtests_rows_and_keeps_its_own(
    store: OmsStore,
) -> None:
    store.submit_many([*one_of_each(), *backtest_rows("BT-1", "B1", 7)])
    await store.flush()
    store.submit_many([NodeStarted(ts_event=T0 + 10), order_event("O-2", 1, "ACCEPTED")])
    await store.flush()
    counts = await store.counts()
    assert sorted((o.client_order_id, o.run_id) for o in await store.orders()) == [
        ("O-1", None),
        ("O-2", None),
    ]
    assert {r.run_id for r in await store.alerts()} == {None}
    assert (counts["uploads"], counts["runs"], counts["audit_log"]) == (1, 1, 1)
