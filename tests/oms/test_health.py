"""The desk's health as read from a real OMS database: node or no node, GCS, the OMS itself."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgspec
import psycopg
import pytest

from core.oms import NodeHolder, NodeStatus, OmsError, OmsStore, TradingStateRecord, UploadState
from core.oms.health import (
    NO_NODE,
    NODE_DOWN,
    NODE_STALE,
    UNKNOWN,
    collect_health,
    format_bytes,
    node_down_alert,
)
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
async def store(oms_location: str):
    async with await OmsStore.open(oms_location) as opened:
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


async def test_a_silent_node_is_stale_then_down_never_no_node(store: OmsStore) -> None:
    store.submit(TradingStateRecord(ts_event=T0 - 1, state="REDUCING", actor="ops", reason="x"))
    store.submit(heartbeat(T0))
    await store.flush()
    fresh = await collect_health(store, now_ns=T0 + 3 * SECOND)
    assert fresh.node_state == "RUNNING" and not fresh.node_silent
    stale = await collect_health(store, now_ns=T0 + 4 * SECOND)
    assert (stale.mode, stale.node_state, stale.equity) == ("LIVE", NODE_STALE, None)
    assert stale.node_silent and not stale.anything_down
    assert stale.component("node").state == "WARN"
    assert stale.component("node").detail == "STALE: no heartbeat for 4s (last RUNNING): late"
    assert stale.component("venue").state == "NONE"  # unknown, not the last beat's OK
    assert node_down_alert(stale) is None
    down = await collect_health(store, now_ns=T0 + 11 * SECOND)
    assert (down.mode, down.node_state, down.trading_state) == ("LIVE", NODE_DOWN, "REDUCING")
    assert down.anything_down and down.component("node").state == "DOWN"
    assert down.last_beat_ns == T0
    later = await collect_health(store, now_ns=T0 + 3600 * SECOND, stale_after_s=5.0)
    assert later.node_state == NODE_DOWN  # a death stays a death until a node starts or stops
    slow = await collect_health(store, now_ns=T0 + 12 * SECOND, stale_after_s=15.0, down_after_s=20)
    assert slow.node_state == "RUNNING"


async def test_a_node_down_is_one_critical_alert_however_many_notice(store: OmsStore) -> None:
    store.submit(heartbeat(T0))
    await store.flush()
    for seconds in (11, 12, 30):  # a console each second, a status, another console...
        health = await collect_health(store, now_ns=T0 + seconds * SECOND)
        alert = node_down_alert(health)
        assert alert is not None and alert.severity == "CRITICAL" and alert.rule == "node_down"
        store.submit(alert)
        await store.flush()
    [only] = [a for a in await store.alerts(limit=10) if a.rule == "node_down"]
    assert "NODE DOWN: LIVE node silent for 11 s" in only.message
    store.submit(heartbeat(T0 + 40 * SECOND))  # a node again, then it dies again: a new alert
    await store.flush()
    again = node_down_alert(await collect_health(store, now_ns=T0 + 60 * SECOND))
    assert again is not None and again.alert_id != only.alert_id


async def test_a_node_that_stopped_cleanly_means_no_node(store: OmsStore) -> None:
    store.submit(heartbeat(T0, node_state="STOPPED"))
    await store.flush()
    health = await collect_health(store, now_ns=T0 + 12 * SECOND)
    assert (health.mode, health.node_state, health.equity) == ("BACKTEST", NO_NODE, None)
    assert health.component("node").state == "NONE"
    assert health.component("venue").detail == "no node running (the last stopped cleanly 12s ago)"
    assert not health.anything_down and node_down_alert(health) is None


async def test_a_dead_part_of_a_beating_node_is_down_with_its_error(store: OmsStore) -> None:
    parts = (
        ("target watcher", "DOWN", "ended: RecursionError: maximum recursion depth exceeded"),
        ("OMS writer", "OK", "0 pending"),
    )
    store.submit(msgspec.structs.replace(heartbeat(T0), parts=parts))
    await store.flush()
    health = await collect_health(store, now_ns=T0 + SECOND)
    assert health.node_state == "RUNNING"
    watcher = health.component("target watcher")
    assert (watcher.state, watcher.detail) == parts[0][1:]
    assert health.component("OMS writer").state == "OK"
    assert health.anything_down


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
    # A damaged schema: the table is gone.
    if store.url is not None:
        with psycopg.connect(store.url, autocommit=True) as other:
            other.execute("DROP TABLE trading_state")
    else:
        with sqlite3.connect(store.path) as other:
            other.execute("DROP TABLE trading_state")
    health = await collect_health(store, now_ns=T0)
    assert (health.mode, health.trading_state, health.node_state) == (UNKNOWN,) * 3
    assert health.component("OMS").state == "DOWN"
    assert re.search("no such table|does not exist", health.component("OMS").detail)
    assert health.component("GCS").state == "NONE"


def test_sizes_read_in_the_largest_fitting_unit() -> None:
    assert [format_bytes(n) for n in (532, 49_152, 1_258_291, 5 * 1024**4)] == [
        "532 B",
        "48.0 KB",
        "1.2 MB",
        "5120.0 GB",
    ]


async def test_a_node_whose_process_is_gone_is_down_at_once(store: OmsStore) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process on this host any more
    store.submit(
        NodeHolder(
            token="t", pid=child.pid, host=socket.gethostname(), os_user="ops", started_at=T0
        )
    )
    store.submit(heartbeat(T0))
    await store.flush()
    health = await collect_health(store, now_ns=T0 + SECOND)  # a fresh heartbeat, yet DOWN
    assert health.node_state == NODE_DOWN and health.anything_down
    assert health.component("node").detail.endswith(f"process {child.pid} is gone")
    alert = node_down_alert(health)
    assert alert is not None and f"process {child.pid} is gone" in alert.message
    mine = NodeHolder(
        token="u",
        pid=os.getpid(),
        host=socket.gethostname(),
        os_user="ops",
        started_at=T0,
        replaces="t",
    )
    store.submit(mine)  # this process holds it (a console with its node inside): not gone
    await store.flush()
    assert await store.node_holder() == mine
    assert (await collect_health(store, now_ns=T0 + SECOND)).node_state == "RUNNING"
