"""The node in real processes: headless under SIGTERM, and inside the dashboard on a real
terminal (a pseudo-terminal), where nothing but Textual may draw. In each, Nautilus's own log
file holds every line to the node's stop."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import pty
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from conftest import write_config
from node_helpers import BTC, ETH

from core.data.target_file import write_target_file
from core.live.node import LOG_FILE_NAME

ROOT = Path(__file__).resolve().parents[2]
REASON = "test: halt after detach"
NAUTILUS_MARKS = ("[INFO]", "[WARN]", "[ERROR]", "TradingNode", "Traceback")


def config_file(tmp_path: Path, demo_root: str) -> Path:
    """The test's config, logging to ``tmp_path / "logs"``: one node's log per test."""
    extra = (
        "\n[node]\nreplay_speed = 300.0\nheartbeat_secs = 0.2\n"
        f'\n[watcher]\npath = "{tmp_path / "orders" / "target_weights.json"}"\n'
        f'\n[drift]\nlog = "{tmp_path / "drift.log"}"\n'
    )
    return write_config(
        tmp_path / "config.toml",
        log_dir=tmp_path / "logs",
        data_root=demo_root,
        results_root=str(tmp_path),
        extra=extra,
    )


def node_log(tmp_path: Path) -> str:
    path = tmp_path / "logs" / f"{LOG_FILE_NAME}.log"
    return path.read_text() if path.exists() else ""


def fill_trade_ids(database: Path) -> list[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        return [row[0] for row in connection.execute("SELECT trade_id FROM fills")]


def assert_node_log_complete(tmp_path: Path) -> None:
    """Nautilus's log of a stopped node: every fill the OMS holds, then the stop sequence to
    the kernel's last line (the logger buffers 8 KB, which used to die with the process)."""
    log = node_log(tmp_path)
    trade_ids = fill_trade_ids(tmp_path / "oms.sqlite")
    assert trade_ids, "no fills: the test traded nothing"
    missing = [trade_id for trade_id in trade_ids if f"trade_id={trade_id}," not in log]
    assert not missing, f"fills in the OMS but not in the node's log: {missing}"
    last_fill = log.rindex("OrderFilled(")
    for line in ("TradingNode: STOPPING", "TradingNode: STOPPED", "MessageBus: Closed"):
        assert log.find(line, last_fill) > 0, f"no '{line}' after the last fill in the log"


def node_state(database: Path) -> str | None:
    if not database.exists():
        return None
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        try:
            row = connection.execute("SELECT node_state FROM node_status").fetchone()
        except sqlite3.OperationalError:
            return None
    return None if row is None else row[0]


def console_in_pty(
    config: Path, rows: int, cols: int, *options: str
) -> tuple[subprocess.Popen, int]:
    """``trade-console --config CONFIG OPTIONS`` on a fresh pseudo-terminal of rows x cols:
    the process and the terminal's master side (to read the screen and type)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
    process = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(config), *options],
        cwd=ROOT,
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    return process, main


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_headless_node_runs_until_sigterm_stops_cleanly_and_logs_every_line(
    tmp_path: Path, demo_root: str
) -> None:
    config = config_file(tmp_path, demo_root)
    database = tmp_path / "oms.sqlite"
    targets = tmp_path / "orders" / "target_weights.json"
    targets.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: node_state(database) == "RUNNING", 30, "the node RUNNING")
        write_target_file(str(targets), {BTC: 0.4, ETH: 0.3}, dt.datetime.now(dt.UTC), "research")
        wait_until(lambda: len(fill_trade_ids(database)) >= 2, 30, "fills in the OMS")
        # While the node runs, its log keeps up with what it did (within a flush interval),
        # though a quiet node writes far less than the logger's 8 KB buffer.
        wait_until(
            lambda: all(
                f"trade_id={trade_id}," in node_log(tmp_path)
                for trade_id in fill_trade_ids(database)
            ),
            5,
            "the OMS's fills in the node's log while it runs",
        )
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "node RUNNING (SHADOW, replay, BINANCE)" in out
    assert out.strip().endswith("trade-console: node stopped")
    assert not any(mark in out + err for mark in NAUTILUS_MARKS), out + err
    assert node_state(database) == "STOPPED"
    assert_node_log_complete(tmp_path)


def test_dashboard_with_the_node_owns_the_terminal_and_quits_on_q_then_stop(
    tmp_path: Path, demo_root: str
) -> None:
    config = config_file(tmp_path, demo_root)
    targets = tmp_path / "orders" / "target_weights.json"
    targets.parent.mkdir(parents=True, exist_ok=True)
    process, main = console_in_pty(config, 40, 140, "--node", "shadow")
    screen = bytearray()

    def read_for(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.05)
            if ready:
                try:
                    screen.extend(os.read(main, 65536))
                except OSError:
                    return

    try:
        deadline = time.monotonic() + 40
        while b"RUNNING" not in screen or b"SHADOW" not in screen:
            assert time.monotonic() < deadline, screen[-2000:].decode(errors="replace")
            read_for(0.2)
        # The research process writes targets: the node trades them (orders reach the OMS).
        as_of = dt.datetime.now(dt.UTC)
        write_target_file(str(targets), {BTC: 0.4, ETH: 0.3}, as_of, "test-research")
        read_for(3.0)
        os.write(main, b"q")  # asks: stop the node, detach, or stay
        read_for(1.0)
        os.write(main, b"s")
        deadline = time.monotonic() + 20
        while process.poll() is None:
            assert time.monotonic() < deadline, "the dashboard did not quit on q, s"
            read_for(0.2)
        read_for(0.3)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    text = screen.decode(errors="replace")
    assert process.returncode == 0, text[-2000:]
    assert not any(mark in text for mark in NAUTILUS_MARKS), text[-3000:]
    assert node_state(tmp_path / "oms.sqlite") == "STOPPED"
    with sqlite3.connect(tmp_path / "oms.sqlite") as connection:
        (orders,) = connection.execute("SELECT count(*) FROM orders").fetchone()
    assert orders >= 2
    assert_node_log_complete(tmp_path)


def heartbeat(database: Path) -> tuple[str, str, int] | None:
    """(node state, trading state, heartbeat ns) from the node's latest heartbeat."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        row = connection.execute(
            "SELECT node_state, trading_state, ts_event FROM node_status"
        ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def order_count(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        return connection.execute("SELECT count(*) FROM orders").fetchone()[0]


def test_sighup_detaches_the_console_and_the_node_keeps_trading_and_obeys_kill(
    tmp_path: Path, demo_root: str
) -> None:
    config = config_file(tmp_path, demo_root)
    database = tmp_path / "oms.sqlite"
    targets = tmp_path / "orders" / "target_weights.json"
    targets.parent.mkdir(parents=True, exist_ok=True)
    process, main = console_in_pty(config, 30, 120, "--node", "shadow")
    screen = bytearray()
    try:
        deadline = time.monotonic() + 40
        while b"RUNNING" not in screen or b"SHADOW" not in screen:
            assert time.monotonic() < deadline, screen[-2000:].decode(errors="replace")
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                screen.extend(os.read(main, 65536))
        # The SSH session drops: the terminal goes away and the console gets SIGHUP.
        os.close(main)
        main = -1
        process.send_signal(signal.SIGHUP)
        time.sleep(2.0)
        assert process.poll() is None, "the process ended on SIGHUP: the node died with it"
        first = heartbeat(database)
        wait_until(
            lambda: (beat := heartbeat(database)) is not None and beat[2] > first[2],
            10,
            "a heartbeat after the hang-up",
        )
        assert heartbeat(database)[0] == "RUNNING"
        # The research process writes targets: the detached node trades them.
        write_target_file(str(targets), {BTC: 0.4, ETH: 0.3}, dt.datetime.now(dt.UTC), "research")
        wait_until(lambda: order_count(database) >= 2, 30, "orders from the detached node")
        # A second shell halts the desk: the detached node applies it.
        kill = subprocess.run(
            [
                sys.executable,
                "-m",
                "console.cli",
                "kill",
                "--config",
                str(config),
                "--reason",
                REASON,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert kill.returncode == 0, kill.stderr
        wait_until(lambda: heartbeat(database)[1] == "HALTED", 10, "the node HALTED")
        with sqlite3.connect(database) as connection:
            actions = [row[0] for row in connection.execute("SELECT action FROM audit_log")]
        assert "detach" in actions and "kill" in actions
        status = subprocess.run(
            [sys.executable, "-m", "console.cli", "status", "--config", str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        held = next(line for line in status.stdout.splitlines() if line.startswith("held by"))
        assert f"detached node pid {process.pid} on " in held, status.stdout
        assert "(SIGHUP: the terminal hung up)" in held
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        if main >= 0:
            os.close(main)
    assert process.returncode == 0
    assert node_state(database) == "STOPPED"
    assert_node_log_complete(tmp_path)  # the detached node's, to its stop on SIGTERM


def test_a_node_killed_with_sigkill_is_node_down_with_a_critical_alert_in_time(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    down_after = 3.0
    extra = (
        "\n[node]\nreplay_speed = 300.0\nheartbeat_secs = 0.2\n"
        f"\n[console]\nstale_after_secs = 1.0\ndown_after_secs = {down_after}\n"
        f'\n[watcher]\npath = "{tmp_path / "orders" / "target_weights.json"}"\n'
        f'\n[drift]\nlog = "{tmp_path / "drift.log"}"\n'
    )
    config = config_writer(
        tmp_path / "config.toml", data_root=demo_root, results_root=str(tmp_path), extra=extra
    )
    database = tmp_path / "oms.sqlite"
    node = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    console = None
    main = -1
    screen = bytearray()

    def read_until(marker: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        start = len(screen)
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.05)
            if ready:
                with contextlib.suppress(OSError):
                    screen.extend(os.read(main, 65536))
            if marker in screen[start:]:
                return True
        return False

    try:
        wait_until(lambda: node_state(database) == "RUNNING", 30, "the node RUNNING")
        console, main = console_in_pty(config, 24, 80)
        assert read_until(b"RUNNING", 30), screen[-2000:].decode(errors="replace")
        killed_ns = time.time_ns()
        node.kill()  # SIGKILL: no STOPPED heartbeat, no goodbye
        node.wait(timeout=10)

        def death() -> tuple[int, str] | None:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
                return connection.execute(
                    "SELECT ts_event, severity FROM risk_alerts WHERE rule = 'node_down'"
                ).fetchone()

        wait_until(lambda: death() is not None, down_after + 10, "the node_down alert")
        noticed_ns, severity = death()
        print(f"kill -9 -> node_down alert: {(noticed_ns - killed_ns) / 1e9:.2f} s")
        assert severity == "CRITICAL"
        assert (noticed_ns - killed_ns) / 1e9 <= down_after + 1.0
        assert read_until(b"NODE DOWN", 10), screen[-3000:].decode(errors="replace")
        os.write(main, b"q")
        console.wait(timeout=20)
    finally:
        for process in (node, console):
            if process is not None and process.poll() is None:
                process.kill()
        if main >= 0:
            os.close(main)
    assert console.returncode == 0
