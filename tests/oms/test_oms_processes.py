"""The OMS across processes, on both back ends: a writer killed with SIGKILL mid-burst, and two
processes at once.

The writer is a real child process running the store. After each commit it prints how many
records it had committed, so the parent knows, when it kills the child, which records must have
survived: each pair (a fill and an order event) is submitted together, so a commit never holds
half a pair.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.oms import AuditEntry, OmsStore

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import asyncio, sys, time
from core.oms import Fill, OmsStore, OrderEvent

async def await_seen(store: OmsStore, pairs: int) -> None:
    # Hold here until the other process has read this state (its audit entries say what they
    # saw), so the overlap is certain rather than a race the other process wins only on an
    # idle machine.
    deadline = time.monotonic() + 60
    while True:
        seen = max((int(entry.reason[4:]) for entry in await store.audit(limit=5)), default=-1)
        if seen >= pairs:
            break
        if time.monotonic() > deadline:
            sys.exit(f"the other process did not read {pairs} pairs in 60 s")
        await asyncio.sleep(0.001)
    print("seen", pairs, flush=True)

async def main(path: str, limit: int, overlap: bool) -> None:
    store = await OmsStore.open(path, batch_interval=0.002, batch_size=200)
    store.add_listener(lambda commit: print(commit.committed, flush=True))
    index = 0
    while limit == 0 or index < limit:
        if overlap and index in (limit // 2, limit - 50):
            await store.flush()
            await await_seen(store, index)
        for _ in range(50):  # a burst of 100 records, then let the writer in
            store.submit(Fill(trade_id=f"T-{index}", client_order_id=f"O-{index}",
                instrument_id="BTCUSDT.BINANCE", strategy_id="S", side="BUY", quantity=1.0,
                price=94000.0, commission=0.1, commission_currency="USDT",
                liquidity_side="TAKER", ts_event=index))
            store.submit(OrderEvent(client_order_id=f"O-{index}", event_id=f"E-{index}",
                event_type="FILLED", sequence=4, ts_event=index, status="FILLED",
                instrument_id="BTCUSDT.BINANCE", strategy_id="S", side="BUY",
                order_type="MARKET", quantity=1.0, filled_qty=1.0, created_at=index))
            index += 1
        await asyncio.sleep(0)
        # Until killed: bursts, not a flood whose queue outgrows memory on a busy machine.
        while limit == 0 and store.stats.pending > 5_000:
            await asyncio.sleep(0.001)
    await store.close()
    print("closed", flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "overlap"))
"""


def _start_writer(path: Path, limit: int, overlap: bool = False) -> subprocess.Popen[str]:
    """Start the writer; with `overlap` it holds halfway and before its last burst until another
    process's audit entry says it read that many pairs (``saw N``)."""
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(limit), "overlap" if overlap else "-"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kill_after", [2_000, 15_000, 40_000])
async def test_kill_9_mid_burst_loses_no_committed_record(
    oms_location: str, kill_after: int
) -> None:
    path = oms_location
    child = _start_writer(path, limit=0)  # writes until killed
    reported = 0
    try:
        for line in child.stdout:
            reported = int(line)
            if reported >= kill_after:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        rest, errors = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL, errors
    # Lines already in the pipe were printed after their commits, so they count too.
    reported = max([reported, *(int(line) for line in rest.split())])
    assert reported >= kill_after, errors

    if not path.startswith("postgresql://"):
        with sqlite3.connect(path) as connection:  # the raw file first, as the child left it
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    async with await OmsStore.open(path) as store:
        counts = await store.counts()
        pairs = reported // 2
        assert counts["fills"] == counts["orders"] >= pairs
        fills = await store.fills(limit=counts["fills"])
        orders = await store.orders(limit=counts["orders"])
    committed_ids = {f"T-{index}" for index in range(pairs)}
    assert committed_ids <= {f.trade_id for f in fills}
    assert {f"O-{index}" for index in range(pairs)} <= {o.client_order_id for o in orders}


async def test_a_second_process_reads_and_writes_while_the_first_writes(oms_location: str) -> None:
    path = oms_location
    async with await OmsStore.open(path) as store:  # created before the child starts
        child = _start_writer(path, limit=20_000, overlap=True)
        seen: list[int] = []
        actions = 0
        try:
            while child.poll() is None:
                counts = await store.counts()  # one statement: one committed snapshot
                assert counts["fills"] == counts["orders"], "a reader saw half a transaction"
                seen.append(counts["fills"])
                if counts["fills"]:
                    # written between the child's transactions, waiting for the write lock
                    seen_pairs = counts["fills"]
                    store.submit(AuditEntry.now("second console", "rebalance", f"saw {seen_pairs}"))
                    actions += 1
                await asyncio.sleep(0.001)
        finally:
            output, errors = child.communicate(timeout=30)
        assert child.returncode == 0, errors
        assert output.split()[-1] == "closed"
        await store.flush()
        counts = await store.counts()
        assert counts["fills"] == counts["orders"] == 20_000
        assert counts["audit_log"] == actions
        assert await store.integrity_check() == ["ok"]
    assert seen == sorted(seen)
    # The child read our commits while its own store was open and mid-run (it held twice for
    # them): the second process wrote between the first's transactions, and read it twice.
    held = [line for line in output.splitlines() if line.startswith("seen")]
    assert held == ["seen 10000", "seen 19950"], output[-500:]
    assert len({count for count in seen if 0 < count < 20_000}) >= 2, "no read overlapped"


def test_the_store_loads_without_nautilus() -> None:
    # `trade-console status` and a second console read the OMS without a node: they must not
    # pay Nautilus's import (0.3 GB, seconds). Only core.execution.oms_feed may load it.
    probe = "import sys, core.oms; print('nautilus_trader' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"


OPENER = r"""
import asyncio, sys, time
from core.oms import OmsStore
from core.oms.events import AuditEntry
path, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
async def main():
    async with await OmsStore.open(path) as store:
        store.submit(AuditEntry.now("shell", "kill", "at once"))
        await store.flush()
asyncio.run(main())
print("ok")
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_creating_the_same_new_database_at_once_all_succeed(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    # Two shells' `trade-console kill` on a box whose OMS does not exist yet.
    for round_ in range(4):
        if backend == "postgresql":
            path = request.getfixturevalue("pg_server").new_database(f"fresh_{round_}")
        else:
            path = str(tmp_path / f"fresh-{round_}.sqlite")
        start = time.time() + 1.0  # after every interpreter is up
        children = [
            subprocess.Popen(
                [sys.executable, "-c", OPENER, str(path), str(start)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(8)
        ]
        for child in children:
            output, errors = child.communicate(timeout=30)
            assert (child.returncode, output.strip()) == (0, "ok"), errors
        if backend == "postgresql":
            assert asyncio.run(_audit_count(path)) == 8
            continue
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT count(*) FROM audit_log").fetchone() == (8,)
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def _audit_count(location: str) -> int:
    async with await OmsStore.open(location, read_only=True) as store:
        return (await store.counts())["audit_log"]
