"""One node per OMS with real processes: ``trade-console run --mode shadow`` twice in one folder,
a node killed with SIGKILL and replaced, ``status`` naming the holder, the demo refused.

Each test has its own folder, as an operator's desk: a config with relative paths (the OMS at
``artifacts/oms.sqlite``, the node log under ``artifacts/logs``), the session's demo data
replayed at 300x.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from node_helpers import BTC, ETH

from core.data.target_file import write_target_file
from core.live.lease import NodeLease
from core.oms import OmsStore

ROOT = Path(__file__).resolve().parents[2]
NAUTILUS_BANNER = "NAUTILUS TRADER - Automated Algorithmic Trading Platform"


def desk(folder: Path, data_root: str) -> Path:
    """A desk's folder: its config (relative paths) and nothing else yet."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(
        f'[data]\nroot = "{data_root}"\n'
        '[results]\nroot = "artifacts/results"\n'
        '[logging]\ndirectory = "artifacts/logs"\n'
        "[node]\nreplay_speed = 300.0\nheartbeat_secs = 0.2\n"
    )
    return folder


def trade_console(folder: Path, *argv: str, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", *argv, "--config", "config.toml"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,  # type: ignore[arg-type]
    )


def finished(folder: Path, *argv: str, timeout: float = 60) -> tuple[int, str, str]:
    process = trade_console(folder, *argv)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


def query(folder: Path, sql: str) -> list[tuple]:
    database = folder / "artifacts" / "oms.sqlite"
    if not database.exists():
        return []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError:  # not created or migrated yet
            return []


def heartbeat(folder: Path) -> tuple[str, int] | None:
    rows = query(folder, "SELECT node_state, ts_event FROM node_status")
    return rows[0] if rows else None


def holder_pid(folder: Path) -> int | None:
    rows = query(folder, "SELECT pid FROM node_holder")
    return rows[0][0] if rows else None


def applied(folder: Path) -> list[str]:
    rows = query(
        folder, "SELECT message FROM risk_alerts WHERE rule = 'targets_applied' ORDER BY ts_event"
    )
    return [row[0] for row in rows]


def order_count(folder: Path) -> int:
    return query(folder, "SELECT count(*) FROM orders")[0][0]


def wait_until(condition, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the node exited ({process.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def write_targets(folder: Path, weights: dict[str, float]) -> None:
    path = folder / "artifacts" / "orders" / "target_weights.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_target_file(str(path), weights, dt.datetime.now(dt.UTC), "test-research")


def running_node(folder: Path) -> subprocess.Popen[str]:
    node = trade_console(folder, "run", "--mode", "shadow")

    def beats_running() -> bool:
        # Its own heartbeat: a node killed before may have left a fresh RUNNING one.
        rows = query(
            folder,
            "SELECT node_state FROM node_status, node_holder"
            f" WHERE node_holder.pid = {node.pid} AND ts_event > started_at",
        )
        return bool(rows) and rows[0][0] == "RUNNING"

    wait_until(beats_running, 60, "node RUNNING", node)
    return node


def stop(node: subprocess.Popen[str]) -> tuple[str, str]:
    if node.poll() is None:
        node.send_signal(signal.SIGTERM)
    try:
        return node.communicate(timeout=30)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()


def orders_in(message: str) -> int:
    found = re.search(r": (\d+) orders", message)
    assert found is not None, message
    return int(found.group(1))


def test_a_second_node_on_the_same_oms_is_refused_and_the_first_trades_on_untouched(
    tmp_path: Path, demo_root: str
) -> None:
    folder = desk(tmp_path / "desk", demo_root)
    database = folder / "artifacts" / "oms.sqlite"
    first = running_node(folder)
    try:
        write_targets(folder, {BTC: 0.4, ETH: 0.3})
        wait_until(lambda: len(applied(folder)) == 1, 20, "the first targets traded", first)

        code, out, err = finished(folder, "run", "--mode", "shadow")

        # One line naming the holder; exit 2; nothing on stdout.
        assert (code, out) == (2, ""), err
        assert err.count("\n") == 1, err
        assert err.startswith(
            f"trade-console: {database}: held by node pid {first.pid} on "
            f"{socket.gethostname()} since "
        ), err
        assert re.search(r" since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(user [^)]+\): ", err), err
        # The first node: still the holder, still beating, still RUNNING.
        assert first.poll() is None
        assert holder_pid(folder) == first.pid
        state, beat = heartbeat(folder) or ("", 0)
        wait_until(lambda: (heartbeat(folder) or ("", 0))[1] > beat, 5, "a later heartbeat")
        assert heartbeat(folder)[0] == "RUNNING" == state

        # A new target file trades exactly once (one node trades it, not two).
        wait_until(lambda: order_count(folder) > 0, 10, "the first orders recorded")
        time.sleep(0.5)
        before = order_count(folder)
        write_targets(folder, {BTC: 0.1, ETH: 0.6})
        second = wait_until(lambda: applied(folder)[1:], 20, "the new targets traded", first)
        expected = before + orders_in(second[0])
        assert expected > before
        wait_until(lambda: order_count(folder) >= expected, 10, "the new orders recorded")
        time.sleep(1.0)
        assert len(applied(folder)) == 2
        assert order_count(folder) == expected

        # status names the holder, as text and as JSON.
        code, text, err = finished(folder, "status")
        assert (code, err) == (0, "")
        [held] = [line for line in text.splitlines() if line.startswith("held by")]
        assert held.startswith(f"held by        node pid {first.pid} on {socket.gethostname()} ")
        assert held.endswith(")"), held  # not "gone"
        code, text, err = finished(folder, "status", "--json")
        assert (code, err) == (0, "")
        report = json.loads(text)["node_holder"]
        assert (report["pid"], report["host"], report["gone"]) == (
            first.pid,
            socket.gethostname(),
            None,
        )
        assert held.endswith(report["text"])
    finally:
        out, err = stop(first)
    assert first.returncode == 0, err
    assert "node RUNNING (SHADOW" in out
    assert holder_pid(folder) is None  # let go on a clean stop
    # Only the first node wrote the node log: the refused one built nothing.
    log = (folder / "artifacts" / "logs" / "trade-console-node.log").read_text()
    assert log.count(NAUTILUS_BANNER) == 1


def test_after_kill_9_a_new_node_takes_over_and_the_audit_says_from_whom(
    tmp_path: Path, demo_root: str
) -> None:
    folder = desk(tmp_path / "desk", demo_root)
    first = running_node(folder)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    assert holder_pid(folder) == first.pid  # its row stays: it never let go

    second = running_node(folder)  # the kernel dropped the lock: this one starts
    try:
        rows = query(folder, "SELECT actor, reason FROM audit_log WHERE action = 'node_takeover'")
        assert len(rows) == 1, rows
        actor, reason = rows[0]
        assert reason.startswith(f"took over the OMS from node pid {first.pid} on ")
        assert reason.endswith(f": process {first.pid} is gone")
        assert actor
        replaced = query(folder, "SELECT replaces FROM node_holder")[0][0]
        assert replaced is not None
    finally:
        out, err = stop(second)
    assert second.returncode == 0, err
    assert "node RUNNING (SHADOW" in out


async def _demo_beside_a_held_oms(folder: Path) -> tuple[int, str, str, NodeLease]:
    async with await OmsStore.open(folder / "artifacts" / "oms.sqlite") as store:
        lease = await NodeLease.acquire(store)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "console.cli",
                "demo",
                "--seconds",
                "3",
                "--config",
                "config.toml",
                cwd=folder,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            await lease.release()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode(), lease


def test_the_demo_beside_a_running_node_is_refused_before_it_writes_targets(
    tmp_path: Path, demo_root: str
) -> None:
    folder = desk(tmp_path / "desk", demo_root)
    code, out, err, lease = asyncio.run(_demo_beside_a_held_oms(folder))
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1, err
    assert f": held by node pid {lease.holder.pid} on " in err
    # The running node's targets file was not touched (the demo writes its own first).
    assert not (folder / "artifacts" / "orders").exists()
