"""The node's heartbeat and the persisted trading state in the OMS, and the v2 -> v3 migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest
from test_oms_opening import _v1_database  # schema v1 with one fill

import core.oms.store as store_module
from core.oms import (
    SCHEMA_VERSION,
    NodeStatus,
    OmsStore,
    RunState,
    TradingStateRecord,
)
from core.oms.schema import MIGRATIONS

T0 = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns
SECOND = 1_000_000_000


def heartbeat(ts: int, node_state: str = "RUNNING", equity: float | None = 100_000.0) -> NodeStatus:
    return NodeStatus(
        ts_event=T0 + ts,
        mode="SHADOW",
        venues=("BINANCE", "BYBIT"),
        node_state=node_state,
        trading_state="ACTIVE",
        data_feed="OK",
        venue_connection="OK",
        equity=equity,
        detail=f"beat {ts}",
    )


def _v2_database(path: Path) -> None:
    """A database as the second release left it: schema v2, one run and one fill."""
    _v1_database(path)  # the fill
    connection = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[1]:
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 2")
    connection.execute(
        "INSERT INTO runs (run_id, state, updated_at, progress) "
        f"VALUES ('BT-1', 'COMPLETED', {T0}, 1.0)"
    )
    connection.close()


@pytest.fixture
async def store(oms_location: str):
    async with await OmsStore.open(oms_location) as opened:
        yield opened


async def test_a_fresh_database_has_no_node_and_no_trading_state(store: OmsStore) -> None:
    assert await store.node_status() is None
    assert await store.trading_state() is None


async def test_node_status_keeps_only_the_latest_heartbeat(store: OmsStore) -> None:
    store.submit_many([heartbeat(1), heartbeat(3, "DEGRADED"), heartbeat(2)])  # 2 arrives late
    await store.flush()
    store.submit(heartbeat(1))  # replayed much later
    await store.flush()
    assert await store.node_status() == heartbeat(3, "DEGRADED")
    assert (await store.counts())["node_status"] == 1


async def test_node_status_reads_back_its_venues_and_a_missing_equity(store: OmsStore) -> None:
    store.submit(heartbeat(1, "STARTING", equity=None))
    await store.flush()
    status = await store.node_status()
    assert status is not None
    assert (status.venues, status.equity, status.node_state) == (
        ("BINANCE", "BYBIT"),
        None,
        "STARTING",
    )


async def test_the_latest_trading_state_is_the_one_in_force(store: OmsStore) -> None:
    kill = TradingStateRecord(ts_event=T0 + 10, state="HALTED", actor="ops", reason="kill")
    rearm = TradingStateRecord(ts_event=T0 + 20, state="ACTIVE", actor="ops", reason="re-arm")
    store.submit_many([rearm, kill, kill])  # out of order, and the kill twice
    await store.flush()
    assert await store.trading_state() == rearm
    assert await store.trading_state_history() == [rearm, kill]


async def test_a_kill_survives_reopening_the_database(oms_location: str) -> None:
    path = oms_location
    kill = TradingStateRecord(ts_event=T0, state="HALTED", actor="ops", reason="runaway orders")
    async with await OmsStore.open(path) as store:
        store.submit(kill)
    async with await OmsStore.open(path, read_only=True) as again:
        assert await again.trading_state() == kill


async def test_heartbeats_and_trading_states_are_tracked_as_changes(store: OmsStore) -> None:
    before = await store.version()
    store.submit(heartbeat(1))
    store.submit(TradingStateRecord(ts_event=T0, state="REDUCING", actor="risk", reason="DD"))
    await store.flush()
    assert (await store.changes_since(before)).tables == {"node_status", "trading_state"}


async def test_a_v2_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    _v2_database(path)
    async with await OmsStore.open(path) as store:
        assert await store.schema_version() == SCHEMA_VERSION == 12
        assert [run.run_id for run in await store.runs()] == ["BT-1"]
        (kept,) = await store.fills()
        assert (kept.trade_id, kept.run_id) == ("T-1", None)  # a node's fill, as it was
        assert await store.node_status() is None
        store.submit(heartbeat(1))
        store.submit(RunState(run_id="BT-2", state="QUEUED", updated_at=T0 + 1))
        await store.flush()
        assert await store.node_status() == heartbeat(1)
        assert len(await store.runs()) == 2


async def test_the_database_size_grows_with_its_rows(
    store: OmsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite: the file and its write-ahead log, where the latest commits are. PostgreSQL: the
    # database's size, read at most every _SIZE_TTL_SECS (each read costs the server a walk
    # over every relation's files): not cached at all here.
    monkeypatch.setattr(store_module, "_SIZE_TTL_SECS", 0.0)
    empty = await store.size_bytes()
    store.submit_many([heartbeat(n) for n in range(50)])
    if store.is_postgres:  # pages of 8 kB, grown by old row versions: many more writes
        store.submit_many(
            [msgspec.structs.replace(heartbeat(n), detail="x" * 4_000) for n in range(50, 2_000)]
        )
    await store.flush()
    assert await store.size_bytes() > empty > 0


def test_records_refuse_states_the_oms_does_not_know() -> None:
    with pytest.raises(ValueError, match=r"NodeStatus.mode: 'PAPER'"):
        NodeStatus(**{**_as_dict(heartbeat(0)), "mode": "PAPER"})
    with pytest.raises(ValueError, match=r"NodeStatus.data_feed: 'SLOW'"):
        NodeStatus(**{**_as_dict(heartbeat(0)), "data_feed": "SLOW"})
    with pytest.raises(ValueError, match=r"TradingStateRecord.state: 'PAUSED'"):
        TradingStateRecord(ts_event=T0, state="PAUSED", actor="ops", reason="lunch")


def _as_dict(record: NodeStatus) -> dict:
    return {name: getattr(record, name) for name in record.__struct_fields__}
