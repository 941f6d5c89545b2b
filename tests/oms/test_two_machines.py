"""Two "machines" on one PostgreSQL OMS: processes with working folders and configs of their
own, nothing shared but the server's URL.

One watches the OMS as the console does (``OmsStore.watch``), with polling pushed out to an
hour, so whatever it sees it heard from the server's ``NOTIFY``; the other is an operator's
shell running the real CLI (``kill``, ``rearm``, ``status``, ``uploads``); a batch box runs a
backtest that lands in the laptop's run list.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from pg_server import PgServer

from core.oms import OmsStore

ROOT = Path(__file__).resolve().parents[2]
EXECUTABLE = Path(sys.executable).with_name("trade-console")

WATCHER = r"""
import asyncio, sys, time
import core.oms.store as store_module
from core.oms import OmsStore
store_module._ANNOUNCED_SAFETY_SECS = 3600.0  # no re-check: only an announcement wakes it

async def follow(store: OmsStore) -> None:
    async for change in store.watch(interval=3600.0):
        if "trading_state" in change.tables:
            state = await store.trading_state()
            print(state.state, time.time_ns(), flush=True)

async def main(url: str) -> None:
    async with await OmsStore.open(url) as store:
        following = asyncio.ensure_future(follow(store))
        while store._listener is None or not store._listener.connected:
            await asyncio.sleep(0.01)
        print("watching", flush=True)
        await following

asyncio.run(main(sys.argv[1]))
"""


def machine(tmp_path: Path, name: str, url: str) -> Path:
    """A working folder with its own config naming the shared OMS."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.toml").write_text(f'[oms]\nurl = "{url}"\n')
    return folder


def cli(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXECUTABLE), "--config", "config.toml", *argv],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"nothing from the watcher in {timeout} s")
    return process.stdout.readline().strip()


def test_a_kill_typed_on_one_machine_is_heard_on_the_other_without_polling(
    pg_server: PgServer, tmp_path: Path
) -> None:
    url = pg_server.new_database("two_machines")
    desk = machine(tmp_path, "desk-box", url)
    laptop = machine(tmp_path, "ops-laptop", url)
    created = cli(desk, "kill", "--reason", "set up", "--create-oms")
    assert created.returncode == 0, created.stderr
    assert cli(desk, "rearm", "--reason", "set up").returncode == 0
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER, url],
        cwd=desk,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(watcher, 60) == "watching"
        typed = time.time_ns()
        killed = cli(laptop, "kill", "--reason", "from the laptop")
        assert killed.returncode == 0, killed.stderr
        assert killed.stdout.startswith("HALTED in force")
        heard = read_line(watcher, 30).split()  # an hour's polling: only NOTIFY wakes it
        assert heard[0] == "HALTED" and int(heard[1]) > typed
        rearmed = cli(laptop, "rearm", "--reason", "all clear")
        assert rearmed.returncode == 0, rearmed.stderr
        assert read_line(watcher, 30).split()[0] == "ACTIVE"
    finally:
        watcher.kill()
        _, errors = watcher.communicate(timeout=10)
    status = cli(desk, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["trading_state"] == "ACTIVE"
    assert report["trading_change"]["reason"] == "all clear"
    assert report["database"] == url
    assert "Traceback" not in errors, errors


def test_a_backtest_run_on_one_machine_is_in_the_run_list_of_the_other(
    pg_server: PgServer, tmp_path: Path, config_writer, demo_root: str
) -> None:
    url = pg_server.new_database("backtest_elsewhere")
    batch_box = tmp_path / "batch-box"
    batch_box.mkdir()
    config_writer(
        batch_box / "config.toml",
        data_root=demo_root,
        results_root=str(batch_box / "results"),
        oms={"url": url},
    )
    ran = cli(batch_box, "backtest")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    laptop = machine(tmp_path, "ops-laptop", url)
    status = cli(laptop, "status", "--json")
    assert status.returncode == 0, status.stderr
    counts = json.loads(status.stdout)["counts"]
    assert counts["runs"] == 1
    assert counts["orders"] > 0 and counts["fills"] > 0  # the run's trading, recorded
    uploads = cli(laptop, "uploads")
    assert uploads.returncode == 0, uploads.stderr
    assert asyncio.run(_run_states(url)) == ["COMPLETED"]


async def _run_states(url: str) -> list[str]:
    async with await OmsStore.open(url, read_only=True) as store:
        return [run.state for run in await store.runs()]
