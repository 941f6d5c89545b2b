"""``trade-console demo`` without a terminal: the node runs headless for ``--seconds``, its status
is printed while it still runs, then it stops and says so in one line."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import write_config

ROOT = Path(__file__).resolve().parents[2]


def test_headless_demo_prints_the_running_nodes_status_then_stops_it(
    tmp_path: Path, demo_root: str
) -> None:
    extra = (
        "\n[node]\nreplay_speed = 300.0\nheartbeat_secs = 0.2\n"
        f'\n[watcher]\npath = "{tmp_path / "orders" / "target_weights.json"}"\n'
        f'\n[drift]\nlog = "{tmp_path / "drift.log"}"\n'
    )
    config = write_config(
        tmp_path / "config.toml",
        log_dir=tmp_path / "logs",
        data_root=demo_root,
        results_root=str(tmp_path),
        extra=extra,
    )
    # stdin and stdout are not terminals: no dashboard, the headless demo.
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "demo", "--config", str(config), "--seconds", "8"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    # The status report, read while the node ran, then the one line saying it stopped.
    assert lines[-1] == "trade-console: node stopped", done.stdout
    report = "\n".join(lines[:-1])
    assert re.search(r"^node +RUNNING$", report, re.M), report
    assert re.search(r"^  data feed +OK ", report, re.M), report
    assert re.search(r"^  venue +OK +BINANCE OK$", report, re.M), report
    assert re.search(r"^equity +[0-9][0-9,]*\.[0-9]{2}$", report, re.M), report
    assert "STOPPED" not in report
    # Read by a status process of its own: the demo's node holds the OMS and is not "gone".
    assert re.search(r"^held by +node pid [0-9]+ on ", report, re.M), report
    assert "gone" not in report and "takes over" not in report
    with sqlite3.connect(tmp_path / "oms.sqlite") as connection:
        (state,) = connection.execute("SELECT node_state FROM node_status").fetchone()
    assert state == "STOPPED"
