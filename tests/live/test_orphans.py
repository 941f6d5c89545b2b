"""Orders a node session left open are settled (``core.live.orphans``): a real OMS file, and real
shadow nodes with TWAP limit children resting at the sandbox, stopped cleanly or with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import msgspec
from node_helpers import BTC, ETH, node_config, running, until, write_targets
from oms_records import order_event

from core.config import AppConfig, load_config
from core.live.orphans import (
    LISTED,
    LIVE_START,
    RECONCILED,
    RULE,
    SHADOW_START,
    SHADOW_STOP,
    NodeOrder,
    settle_orphans,
)
from core.oms import OmsStore, OrderEvent

ROOT = Path(__file__).resolve().parents[2]
# Passive TWAP limit children, 0.8% from the last trade (inside the 1% price tolerance): they
# rest at the sandbox unfilled.
RESTING = (
    '\n[execution]\nalgorithm = "twap"\nchild_order_type = "limit"\nlimit_offset_bps = -80.0\n'
    "twap_horizon_secs = 120.0\ntwap_interval_secs = 1.0\n"
)


def _order(client_order_id: str, status: str, **fields: object) -> OrderEvent:
    return msgspec.structs.replace(order_event(client_order_id, 3, status), **fields)


def _resting_config(config_writer, tmp_path: Path, demo_root: str) -> AppConfig:  # type: ignore[no-untyped-def]
    """A shadow node on the demo replay whose rebalance orders are TWAPs of resting children."""
    node_config(config_writer, tmp_path, demo_root)
    path = tmp_path / "config.toml"
    path.write_text(path.read_text() + RESTING)
    return load_config(path)


# -- settle_orphans on a real OMS file ------------------------------------------------------------


async def test_shadow_orphans_are_closed_with_their_history_kept_one_audit_and_one_alert(
    tmp_path: Path,
) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many(
            [
                _order("O-1", "ACCEPTED"),
                _order("O-2", "PARTIALLY_FILLED", filled_qty=0.1),
                _order("O-3", "FILLED"),
                _order("O-4", "ACCEPTED", instrument_id="BTCUSD.GEMINI"),  # its poller's
                _order("O-5", "ACCEPTED", run_id="BT-1"),  # a backtest's
            ]
        )
        await store.flush()
        settled = await settle_orphans(
            store, {"BINANCE"}, reason=SHADOW_START, when="start", mode="SHADOW"
        )
        assert [order.client_order_id for order in settled] == ["O-1", "O-2"]
        orders = {order.client_order_id: order for order in await store.orders()}
        assert {key: orders[key].status for key in orders} == {
            "O-1": "ORPHANED",
            "O-2": "ORPHANED",
            "O-3": "FILLED",
            "O-4": "ACCEPTED",
            "O-5": "ACCEPTED",
        }
        assert orders["O-2"].filled_qty == 0.1  # what it had filled stays
        assert orders["O-1"].reason == SHADOW_START
        history = await store.order_history("O-1")
        assert [(e.sequence, e.status) for e in history] == [(3, "ACCEPTED"), (4, "ORPHANED")]
        assert (await store.counts())["open_orders"] == 2  # the external and backtest ones
        [entry] = [e for e in await store.audit() if e.action == "settle_orphans"]
        assert (entry.actor, entry.reason) == ("auto: node start", SHADOW_START)
        assert entry.details is not None and entry.details["orders"] == ["O-1", "O-2"]
        [alert] = [a for a in await store.alerts() if a.rule == RULE]
        assert alert.severity == "WARNING"
        assert alert.message.startswith("2 orders settled as ORPHANED at node start (session")
        assert alert.message.endswith("): O-1, O-2")
        # Settled once: a second start finds nothing to settle and writes nothing.
        again = await settle_orphans(
            store, {"BINANCE"}, reason=SHADOW_START, when="start", mode="SHADOW"
        )
        assert again == []
        assert len([a for a in await store.alerts() if a.rule == RULE]) == 1


async def test_live_orders_are_judged_by_what_the_venues_reconciliation_brought_back(
    tmp_path: Path,
) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many([_order(f"O-{i}", "ACCEPTED") for i in (1, 2, 3)])
        await store.flush()
        venue = {
            "O-2": NodeOrder("ACCEPTED", 0.0, None),  # still open at the venue
            "O-3": NodeOrder("FILLED", 0.5, 94_100.0),  # filled there meanwhile
        }
        settled = await settle_orphans(
            store,
            {"BINANCE"},
            reason=LIVE_START,
            when="start",
            mode="LIVE",
            cached=venue.get,
        )
        assert [order.client_order_id for order in settled] == ["O-1", "O-3"]
        orders = {order.client_order_id: order for order in await store.orders()}
        assert {key: orders[key].status for key in orders} == {
            "O-1": "ORPHANED",
            "O-2": "ACCEPTED",  # the node manages it again: a kill cancels it
            "O-3": "FILLED",
        }
        assert (orders["O-3"].filled_qty, orders["O-3"].avg_px) == (0.5, 94_100.0)
        assert orders["O-3"].event_type == RECONCILED
        [alert] = [a for a in await store.alerts() if a.rule == RULE]
        assert alert.severity == "ERROR"  # real money: O-1's final state is unknown here
        assert "not open at the venue after reconciliation" in alert.message
        assert alert.message.endswith(
            "): O-1; 1 order closed as the venue's reconciliation reported: O-3"
        )


async def test_the_alert_lists_the_first_ids_and_counts_the_rest(tmp_path: Path) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many([_order(f"O-{i:02d}", "ACCEPTED") for i in range(LISTED + 5)])
        await store.flush()
        await settle_orphans(store, {"BINANCE"}, reason=SHADOW_START, when="start", mode="SHADOW")
        [alert] = [a for a in await store.alerts() if a.rule == RULE]
        assert alert.message.startswith(f"{LISTED + 5} orders settled")
        assert alert.message.endswith(", O-09 and 5 more")
        assert alert.details is not None and alert.details["count"] == LISTED + 5
        assert len(alert.details["orders"]) == LISTED


# -- a real shadow node ---------------------------------------------------------------------------


def _open_ids(database: Path) -> set[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        rows = connection.execute("SELECT client_order_id FROM orders WHERE is_open").fetchall()
    return {row[0] for row in rows}


async def test_a_clean_stop_settles_the_sessions_resting_orders(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = _resting_config(config_writer, tmp_path, demo_root)
    async with running(config) as (session, store):
        write_targets(config, {BTC: 0.4, ETH: 0.3})
        await until(lambda: len(session.strategy.cache.orders_open()) >= 2, 30, "resting orders")
        await store.flush()
        resting = {order.client_order_id for order in await store.node_open_orders()}
        assert resting
    # Stopped: the sandbox went with the node, and so did its orders.
    async with await OmsStore.open(config.oms.database) as store:
        assert await store.node_open_orders() == []
        orders = {order.client_order_id: order for order in await store.orders(limit=1000)}
        assert {orders[key].status for key in resting} == {"ORPHANED"}
        assert {orders[key].reason for key in resting} == {SHADOW_STOP}
        entries = [e for e in await store.audit() if e.action == "settle_orphans"]
        assert [e.actor for e in entries] == ["auto: node stop"]
        assert len([a for a in await store.alerts() if a.rule == RULE]) == 1


def test_after_kill_9_the_next_node_settles_the_dead_sessions_orders_and_kill_counts_true(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = _resting_config(config_writer, tmp_path, demo_root)
    config_path = tmp_path / "config.toml"
    database = tmp_path / "oms.sqlite"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "console.cli", *args, "--config", str(config_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def node() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "console.cli", "run", "--config", str(config_path)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def heartbeat() -> tuple[str, str, int] | None:
        if not database.exists():
            return None
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            try:
                return connection.execute(
                    "SELECT node_state, trading_state, ts_event FROM node_status"
                ).fetchone()
            except sqlite3.OperationalError:
                return None

    def wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    first = node()
    second = None
    try:
        wait(lambda: (beat := heartbeat()) is not None and beat[0] == "RUNNING", 60, "node 1")
        write_targets(config, {BTC: 0.4, ETH: 0.3})
        wait(lambda: len(_open_ids(database)) >= 4, 60, "resting TWAP orders")
        first.send_signal(signal.SIGKILL)  # no clean stop: its orders stay open in the OMS
        first.wait(timeout=10)
        dead = _open_ids(database)
        print(f"open after kill -9: {len(dead)}")
        assert len(dead) >= 4
        os.remove(config.watcher.path)  # the next node trades nothing of its own
        killed_ns = time.time_ns()
        second = node()
        wait(
            lambda: (
                (beat := heartbeat()) is not None and beat[0] == "RUNNING" and beat[2] > killed_ns
            ),
            60,
            "node 2 RUNNING",
        )
        assert not (_open_ids(database) & dead), "the dead session's orders are still open"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            statuses = {
                status
                for (status,) in connection.execute(
                    "SELECT status FROM orders WHERE client_order_id IN "
                    f"({','.join('?' * len(dead))})",
                    sorted(dead),
                )
            }
            audit = connection.execute(
                "SELECT actor, details FROM audit_log WHERE action = 'settle_orphans'"
            ).fetchall()
            alerts = connection.execute(
                "SELECT message FROM risk_alerts WHERE rule = ?", (RULE,)
            ).fetchall()
        assert statuses == {"ORPHANED"}
        assert [actor for actor, _ in audit] == ["auto: node start"]
        assert json.loads(audit[0][1])["count"] == len(dead)
        assert len(alerts) == 1 and alerts[0][0].startswith(f"{len(dead)} orders settled")
        killed = cli("kill", "--reason", "test: after the restart")
        assert killed.returncode == 0, killed.stderr
        wait(lambda: heartbeat()[1] == "HALTED", 10, "node 2 HALTED")
        status = cli("status", "--json")
        report = json.loads(status.stdout)
        assert report["trading_state"] == "HALTED"
        assert report["counts"]["open_orders"] == 0 == len(_open_ids(database))
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
