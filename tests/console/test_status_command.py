"""``trade-console status``: what a second shell or a script sees, and what it must never do."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
from console_seed import pnl_snapshot
from oms_records import fill, order_event  # the OMS tests' record builders

from console.cli import EXIT_BAD_INPUT, main
from core.oms import (
    SCHEMA_VERSION,
    NodeHolder,
    NodeStatus,
    OmsStore,
    RiskAlert,
    RunState,
    TradingStateRecord,
    UploadState,
)
from core.oms.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns
BTC = "BTCUSDT.BINANCE"


def config_for(tmp_path: Path, database: Path) -> Path:
    path = tmp_path / "console.toml"
    path.write_text(f'[oms]\ndatabase = "{database}"\n')
    return path


def alert(index: int) -> RiskAlert:
    return RiskAlert(
        alert_id=f"a{index}",
        ts_event=T0 + index * 1_000_000_000,
        severity="WARNING",
        rule="order_denied",
        message=f"O-{index} denied:\nNOTIONAL",
        instrument_id=BTC,
    )


async def _fill_database(path: Path, heartbeat_ns: int | None) -> None:
    async with await OmsStore.open(path) as store:
        store.submit_many([order_event("O-1", 2, "ACCEPTED"), order_event("O-2", 2, "FILLED")])
        store.submit(fill(1, "O-2"))
        store.submit_many([alert(index) for index in range(7)])
        store.submit_many(
            [
                UploadState(file="a.log", state="queued", size=1, updated_at=T0),
                UploadState(file="b.log", state="uploading", size=1, updated_at=T0),
                UploadState(file="c.log", state="failed", size=1, updated_at=T0),
                UploadState(file="d.log", state="done", size=1, updated_at=T0),
            ]
        )
        store.submit(RunState(run_id="BT-1", state="COMPLETED", updated_at=T0, progress=1.0))
        store.submit(TradingStateRecord(ts_event=T0, state="HALTED", actor="ops", reason="kill"))
        if heartbeat_ns is not None:
            store.submit(
                NodeStatus(
                    ts_event=heartbeat_ns,
                    mode="SHADOW",
                    venues=("BINANCE",),
                    node_state="RUNNING",
                    trading_state="HALTED",
                    data_feed="OK",
                    venue_connection="OK",
                    equity=101_234.5,
                )
            )


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_shows_health_counts_and_the_last_five_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    asyncio.run(_fill_database(database, heartbeat_ns=None))
    code, out, err = run_cli(
        capsys, "status", "--json", "--config", str(config_for(tmp_path, database))
    )
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert list(report) == [
        "database",
        "schema_version",
        "as_of",
        "as_of_ns",
        "mode",
        "venues",
        "node_state",
        "node_holder",
        "trading_state",
        "equity",
        "pnl",
        "components",
        "counts",
        "last_alerts",
    ]
    assert (report["database"], report["schema_version"]) == (str(database), SCHEMA_VERSION)
    assert (report["mode"], report["node_state"], report["trading_state"]) == (
        "BACKTEST",
        "NO NODE",
        "HALTED",  # the persisted kill: no node runs
    )
    assert (report["venues"], report["equity"], report["pnl"]) == ([], None, None)
    assert report["components"]["node"] == {"state": "NONE", "detail": "no node running"}
    assert report["components"]["GCS"] == {"state": "WARN", "detail": "1 failed, 2 queued"}
    assert report["components"]["OMS"]["state"] == "OK"
    assert report["counts"] == {
        "orders": 2,
        "open_orders": 1,
        "fills": 1,
        "positions": 0,
        "open_positions": 0,
        "alerts": 7,
        "uploads_queued": 2,
        "uploads_failed": 1,
        "runs": 1,
    }
    assert [a["rule"] for a in report["last_alerts"]] == ["order_denied"] * 5
    assert [a["message"] for a in report["last_alerts"]][:2] == [
        "O-6 denied: NOTIONAL",  # an alert is one line, as stored
        "O-5 denied: NOTIONAL",
    ]
    assert report["last_alerts"][0]["ts"] == "2026-01-05T00:00:06.000Z"


def test_text_shows_a_running_node_and_alerts_one_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    asyncio.run(_fill_database(database, heartbeat_ns=time.time_ns()))
    code, out, err = run_cli(capsys, "status", "--config", str(config_for(tmp_path, database)))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "mode           SHADOW" in lines
    assert "node           RUNNING" in lines
    assert "trading        HALTED" in lines
    assert "equity         101,234.50" in lines
    assert "  orders       2 (1 open)" in lines
    assert "  uploads      2 queued, 1 failed" in lines
    assert "  2026-01-05 00:00:06 UTC  WARNING  order_denied: O-6 denied: NOTIONAL" in lines
    assert sum(line.startswith("  2026-01-05") for line in lines) == 5


async def _hold(path: Path, holder: NodeHolder) -> None:
    async with await OmsStore.open(path) as store:
        store.submit(holder)


def test_status_names_the_node_holding_the_oms_and_says_when_it_is_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    asyncio.run(_fill_database(database, heartbeat_ns=time.time_ns()))
    config = str(config_for(tmp_path, database))
    code, out, _ = run_cli(capsys, "status", "--config", config)
    assert code == 0 and "held by        none" in out.splitlines()
    assert (
        json.loads(run_cli(capsys, "status", "--json", "--config", config)[1])["node_holder"]
        is None
    )

    # A live process of this host holds it (its heartbeat fresh), since 09:30 UTC.
    running = NodeHolder(
        token="t1",
        pid=os.getppid(),
        host=socket.gethostname(),
        os_user="ops",
        started_at=T0 + 9 * 3_600_000_000_000 + 1_800_000_000_000,
    )
    asyncio.run(_hold(database, running))
    named = f"node pid {os.getppid()} on {socket.gethostname()} since 2026-01-05 09:30:00 UTC"
    code, out, _ = run_cli(capsys, "status", "--config", config)
    assert f"held by        {named} (user ops)" in out.splitlines()
    code, out, _ = run_cli(capsys, "status", "--json", "--config", config)
    assert json.loads(out)["node_holder"] == {
        "text": f"{named} (user ops)",
        "pid": os.getppid(),
        "host": socket.gethostname(),
        "user": "ops",
        "since": "2026-01-05T09:30:00.000Z",
        "since_ns": running.started_at,
        "gone": None,
        "detached": None,
    }

    # A node that died without letting go: named, and said to be gone.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    asyncio.run(
        _hold(database, msgspec.structs.replace(running, token="t2", pid=dead_pid, replaces="t1"))
    )
    code, out, _ = run_cli(capsys, "status", "--config", config)
    [line] = [line for line in out.splitlines() if line.startswith("held by")]
    assert line.endswith(
        f"(user ops), gone (process {dead_pid} is gone): the next node takes over"
    ), line
    code, out, _ = run_cli(capsys, "status", "--json", "--config", config)
    assert json.loads(out)["node_holder"]["gone"] == f"process {dead_pid} is gone"


def test_a_missing_database_is_one_line_and_exit_2_creating_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "nowhere" / "oms.sqlite"
    code, out, err = run_cli(capsys, "status", "--config", str(config_for(tmp_path, database)))
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err.count("\n") == 1
    assert "no OMS database here yet" in err
    assert str(database) in err
    assert not database.parent.exists()


@pytest.mark.parametrize("damage", ["newer", "older", "corrupt"])
def test_a_database_status_cannot_read_is_one_line_and_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    database = tmp_path / "oms.sqlite"
    if damage == "corrupt":
        database.write_bytes(b"SQLite format 3\x00" + b"\xa5" * 8_000)
        expected = "not a readable OMS database"
    else:
        connection = sqlite3.connect(database, isolation_level=None)
        steps = MIGRATIONS if damage == "newer" else MIGRATIONS[:2]
        for step in steps:
            for statement in step:
                connection.execute(statement)
        version = SCHEMA_VERSION + 1 if damage == "newer" else 2
        connection.execute(f"PRAGMA user_version = {version}")
        connection.close()
        expected = (
            "written by a newer version"
            if damage == "newer"
            else f"schema v2, not v{SCHEMA_VERSION}"
        )
    before = database.read_bytes()
    code, out, err = run_cli(capsys, "status", "--config", str(config_for(tmp_path, database)))
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err.count("\n") == 1, err
    assert expected in err
    assert database.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["console.toml", "oms.sqlite"]


PROBE = """
import json, sys, time
started = time.perf_counter()
from console.cli import main
code = main(["status", "--json", "--config", sys.argv[1]])
elapsed = time.perf_counter() - started
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("nautilus_trader", "textual"))
print(json.dumps([code, heavy, elapsed]), file=sys.stderr)
"""


def test_status_loads_neither_nautilus_nor_textual_and_answers_fast(tmp_path: Path) -> None:
    database = tmp_path / "oms.sqlite"
    asyncio.run(_fill_database(database, heartbeat_ns=None))
    config = str(config_for(tmp_path, database))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, config],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    code, heavy, elapsed = json.loads(result.stderr.strip().splitlines()[-1])
    assert (code, heavy) == (0, [])
    assert json.loads(result.stdout)["counts"]["alerts"] == 7
    # `heavy` above is the real guard (Nautilus alone takes ~1 s to import warm, seconds cold);
    # the bound only catches a slow path, with room for a loaded CI machine.
    assert elapsed < 3.0, f"status took {elapsed:.2f} s"


def test_a_node_that_stopped_beating_exits_3_and_raises_one_critical_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    # The node beat 30 s ago and never wrote its STOPPED heartbeat: it died (kill -9, a crash).
    asyncio.run(_fill_database(database, heartbeat_ns=time.time_ns() - 30_000_000_000))
    config = str(config_for(tmp_path, database))
    for _ in range(2):  # a cron probe asking twice: one alert for one death
        code, out, err = run_cli(capsys, "status", "--json", "--config", config)
        assert (code, err) == (3, "")
        report = json.loads(out)
        assert (report["mode"], report["node_state"]) == ("SHADOW", "DOWN")
        assert report["components"]["node"]["state"] == "DOWN"
        assert report["equity"] is None  # a silent node's last figure is not shown as current
        assert report["last_alerts"][0]["severity"] == "CRITICAL"
        assert report["last_alerts"][0]["rule"] == "node_down"
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT severity, message FROM risk_alerts WHERE rule = 'node_down'"
        ).fetchall()
    assert len(rows) == 1 and rows[0][0] == "CRITICAL"
    assert rows[0][1].startswith("NODE DOWN: SHADOW node silent for 30 s")


def test_a_late_heartbeat_is_stale_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    asyncio.run(_fill_database(database, heartbeat_ns=time.time_ns() - 5_000_000_000))
    code, out, _ = run_cli(capsys, "status", "--config", str(config_for(tmp_path, database)))
    assert code == 0
    assert "node           STALE" in out.splitlines()
    with sqlite3.connect(database) as connection:
        (alerts,) = connection.execute(
            "SELECT count(*) FROM risk_alerts WHERE rule = 'node_down'"
        ).fetchone()
    assert alerts == 0


def test_a_dead_part_of_a_running_node_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    asyncio.run(_fill_database(database, heartbeat_ns=None))

    async def beat_with_a_dead_watcher() -> None:
        async with await OmsStore.open(database) as store:
            store.submit(
                NodeStatus(
                    ts_event=time.time_ns(),
                    mode="SHADOW",
                    venues=("BINANCE",),
                    node_state="RUNNING",
                    trading_state="ACTIVE",
                    data_feed="OK",
                    venue_connection="OK",
                    equity=100_000.0,
                    parts=(("target watcher", "DOWN", "ended: RecursionError: too deep"),),
                )
            )

    asyncio.run(beat_with_a_dead_watcher())
    code, out, _ = run_cli(capsys, "status", "--config", str(config_for(tmp_path, database)))
    assert code == 3
    assert "  target watcher DOWN  ended: RecursionError: too deep" in out.splitlines()


def test_an_alert_stored_raw_by_an_older_version_is_printed_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    asyncio.run(_fill_database(database, heartbeat_ns=time.time_ns()))
    with sqlite3.connect(database) as connection:  # as written before alerts were bounded
        connection.execute(
            "UPDATE risk_alerts SET message = ? WHERE alert_id = 'a6'",
            ("X\n\x1b[2J\x1b[31mFAKE: all clear\x1b[0m" + "K" * 100_000,),
        )
    code, out, err = run_cli(capsys, "status", "--config", str(config_for(tmp_path, database)))
    assert (code, err) == (0, "")
    assert "\x1b" not in out
    [line] = [line for line in out.splitlines() if "FAKE" in line]
    assert r"order_denied: X \x1b[2J\x1b[31mFAKE: all clear\x1b[0mKKK" in line
    assert len(line) < 600


def test_status_reports_the_nodes_session_and_day_pnl_as_recorded_and_it_adds_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    now = time.time_ns()
    snapshot = pnl_snapshot(ts_event=now - 500_000_000, equity=101_234.5)

    async def write() -> None:
        await _fill_database(database, heartbeat_ns=now - 500_000_000)
        async with await OmsStore.open(database) as store:
            store.submit(snapshot)

    asyncio.run(write())
    config = str(config_for(tmp_path, database))
    _, out, _ = run_cli(capsys, "status", "--json", "--config", config)
    pnl = json.loads(out)["pnl"]
    assert (pnl["equity"], pnl["currency"]) == (101_234.5, "USDT")
    assert pnl["session_pnl"] == pytest.approx(snapshot.equity - snapshot.session_start_equity)
    parts = pnl["realized"] + pnl["unrealized"] - pnl["fees"] + pnl["funding"] + pnl["external"]
    assert pnl["session_pnl"] == pytest.approx(parts)
    assert pnl["day"]["pnl"] == pytest.approx(pnl["session_pnl"] - 500.0)
    btc = pnl["instruments"][0]
    assert (btc["instrument_id"], btc["mark"], btc["mark_source"]) == (BTC, 94_210.5, "last")
    assert btc["unrealized"] == pytest.approx(0.75 * (94_210.5 - 93_060.0))
    assert btc["session_pnl"] == pytest.approx(120.0 + btc["unrealized"] - 45.12)
    _, out, _ = run_cli(capsys, "status", "--config", config)
    lines = out.splitlines()
    (total,) = [line for line in lines if line.startswith("pnl ")]
    assert total.startswith("pnl            session +861.65  day +361.65 USDT (as of ")
    assert "the last session's" not in total  # the node runs
    (session,) = [line for line in lines if line.startswith("  session ")]
    assert session.endswith("realized +104.50 + unrealized +817.88 - fees 60.72 + funding +0.00")
    (btc_line,) = [line for line in lines if line.startswith(f"  {BTC}")]
    assert "mark 94,210.5 (last)" in btc_line and "unrealized +862.88" in btc_line


def test_status_after_the_node_stopped_says_the_pnl_is_the_last_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"

    async def write() -> None:
        await _fill_database(database, heartbeat_ns=None)
        async with await OmsStore.open(database) as store:
            store.submit(pnl_snapshot(ts_event=T0))

    asyncio.run(write())
    _, out, _ = run_cli(capsys, "status", "--config", str(config_for(tmp_path, database)))
    (total,) = [line for line in out.splitlines() if line.startswith("pnl ")]
    assert total.endswith("(as of 00:00:00 UTC, the last session's: no node runs)")
