"""The desk's health as read from a real OMS database: node or no node, GCS, the OMS itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.oms import NodeStatus, OmsError, OmsStore, TradingStateRecord, UploadState
from core.oms.health import NO_NODE, UNKNOWN, collect_health, format_bytes
from core.oms.schema import SCHEMA_VERSION

T0 = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns
SECOND = 1_000_000_000


def heartbeat(
    ts: int = T0,
    node_state: str = "RUNNING",
    data_feed: str = "OK",
    venue_connection: str = "OK",
    trading_state: str = "ACTIVE",
    detail: str = "",
) -> NodeStatus:
    return NodeStatus(
        ts_event=ts,
        mode="LIVE",
        venues=("BINANCE",),
        node_state=node_state,
        trading_state=trading_state,
        data_feed=data_feed,
        venue_connection=venue_connection,
        equity=123_456.5,
        detail=detail,
    )


@pytest.fixture
async def store(tmp_path: Path):
    async with await OmsStore.open(tmp_path / "oms.sqlite") as opened:
        yield opened


def states(health) -> dict[str, str]:
    return {component.name: component.state for component in health.components}


async def test_without_a_heartbeat_it_says_backtest_and_no_node(store: OmsStore) -> None:
    health = await collect_health(store, now_ns=T0)
    assert (health.mode, health.node_state, health.trading_state) == ("BACKTEST", NO_NODE, "ACTIVE")
    assert (health.venues, health.equity, health.as_of_ns) == ((), None, T0)
    assert states(health) == {
        "node": "NONE",
        "data feed": "NONE",
        "venue": "NONE",
        "GCS": "NONE",
        "OMS": "OK",
    }
    assert health.component("node").detail == "no node running"
    assert health.component("GCS").detail == "no uploads"


async def test_without_a_node_the_persisted_trading_state_shows(store: OmsStore) -> None:
    store.submit(TradingStateRecord(ts_event=T0, state="HALTED", actor="ops", reason="kill"))
    await store.flush()
    health = await collect_health(store, now_ns=T0 + 60 * SECOND)
    assert (health.node_state, health.trading_state) == (NO_NODE, "HALTED")


async def test_a_fresh_heartbeat_shows_the_running_node(store: OmsStore) -> None:
    store.submit(TradingStateRecord(ts_event=T0, state="HALTED", actor="ops", reason="old kill"))
    store.submit(heartbeat(T0, trading_state="REDUCING"))
    await store.flush()
    health = await collect_health(store, now_ns=T0 + 2 * SECOND)
    assert (health.mode, health.venues, health.node_state) == ("LIVE", ("BINANCE",), "RUNNING")
    assert (health.trading_state, health.equity) == ("REDUCING", 123_456.5)  # the node's
    assert states(health)["node"] == states(health)["data feed"] == states(health)["venue"] == "OK"
    assert health.component("node").detail == "RUNNING, heartbeat 2s ago"


async def test_a_stale_heartbeat_means_no_node(store: OmsStore) -> None:
    store.submit(heartbeat(T0))
    await store.flush()
    health = await collect_health(store, now_ns=T0 + 12 * SECOND, stale_after_s=5.0)
    assert (health.mode, health.node_state, health.equity) == ("BACKTEST", NO_NODE, None)
    assert health.component("node").state == "NONE"
    assert health.component("venue").detail == "last heartbeat 12s ago"
    fresh = await collect_health(store, now_ns=T0 + 12 * SECOND, stale_after_s=15.0)
    assert fresh.node_state == "RUNNING"


async def test_a_degraded_node_warns_and_a_lost_venue_is_down(store: OmsStore) -> None:
    store.submit(
        heartbeat(T0, "DEGRADED", data_feed="STALE", venue_connection="DOWN", detail="WS lost")
    )
    await store.flush()
    health = await collect_health(store, now_ns=T0)
    assert (states(health)["node"], states(health)["data feed"], states(health)["venue"]) == (
        "WARN",
        "WARN",
        "DOWN",
    )
    assert health.component("node").detail == "DEGRADED, heartbeat 0s ago: WS lost"
    assert health.component("venue").detail == "BINANCE DOWN"


async def test_gcs_is_ok_when_uploads_are_done_and_warns_when_one_failed(store: OmsStore) -> None:
    store.submit_many(
        [
            UploadState(file="a", state="done", size=1, updated_at=T0),
            UploadState(file="b", state="done", size=1, updated_at=T0),
            UploadState(file="c", state="queued", size=1, updated_at=T0),
        ]
    )
    await store.flush()
    gcs = (await collect_health(store, now_ns=T0)).component("GCS")
    assert (gcs.state, gcs.detail) == ("OK", "2 done, 1 queued")
    store.submit(UploadState(file="d", state="failed", size=1, updated_at=T0, retries=5))
    await store.flush()
    gcs = (await collect_health(store, now_ns=T0)).component("GCS")
    assert (gcs.state, gcs.detail) == ("WARN", "1 failed, 1 queued")


async def test_the_oms_names_its_file_and_schema(store: OmsStore) -> None:
    oms = (await collect_health(store, now_ns=T0)).component("OMS")
    assert oms.state == "OK"
    assert oms.detail.startswith(f"{store.path}, schema v{SCHEMA_VERSION}, ")


async def test_the_oms_warns_with_the_writers_last_error(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    async with await OmsStore.open(path, busy_timeout_ms=20) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        store.submit(heartbeat())
        with pytest.raises(OmsError):
            await store.flush()
        oms = (await collect_health(store, now_ns=T0)).component("OMS")
        other.execute("ROLLBACK")
        other.close()
        await store.flush()
        recovered = (await collect_health(store, now_ns=T0)).component("OMS")
    assert oms.state == "WARN"
    assert "1 pending" in oms.detail
    assert "locked" in oms.detail
    assert recovered.state == "OK"


async def test_an_unreadable_oms_is_down_and_the_trading_state_unknown(store: OmsStore) -> None:
    with sqlite3.connect(store.path) as other:  # a damaged schema: the table is gone
        other.execute("DROP TABLE trading_state")
    health = await collect_health(store, now_ns=T0)
    assert (health.trading_state, health.node_state) == (UNKNOWN, NO_NODE)
    assert health.component("OMS").state == "DOWN"
    assert "no such table" in health.component("OMS").detail
    assert health.component("GCS").state == "NONE"


def test_sizes_read_in_the_largest_fitting_unit() -> None:
    assert [format_bytes(n) for n in (532, 49_152, 1_258_291, 5 * 1024**4)] == [
        "532 B",
        "48.0 KB",
        "1.2 MB",
        "5120.0 GB",
    ]
