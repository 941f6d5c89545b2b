"""Benchmark: from a record submitted to the OMS to the dashboard showing it; CPU and memory.

Prints figures; asserts nothing. The console runs headless at each of ``--sizes``: 80x24 (one
pane on screen) and 160x48 (the grid: every pane on screen, the most drawing). A feeder in
another process plays the node, writing to the same OMS file through its own store, as a live
node would:

- for each of 100 and 1,000 events/s (``--seconds`` each), new market orders in 10 ms bursts,
  each four records (order event, position snapshot, balance, drift observation; their fills are
  what the drift observation measures). An order's id carries the wall-clock time it was
  submitted; when the Orders and Drift panes first show it, the difference is the latency:
  submit -> the feeder's batched commit -> the console noticing it -> the pane's read (at most
  one per refresh interval) -> the table holding the row; and from the commit (the feeder logs
  its commits), which leaves out the node's own batching. p50, p99 and max, with the console
  process's CPU use.
- a soak at 1,000 events/s for ``--minutes`` (at the last size): the console's resident memory
  and the objects the garbage collector tracks, each minute (flat is the target: tables keep
  200 rows, reads ask for 200), and the latency per minute.

Each back end of ``--backend`` (default ``sqlite``; ``sqlite,postgresql`` for both, one after
the other at each size) gets a fresh OMS: a SQLite file in a temporary folder, or a database on
a PostgreSQL 15 server the bench starts on 127.0.0.1 (``bench/oms_backends.py``), where the
console's ``watch`` wakes on the server's ``NOTIFY`` instead of polling every 20 ms.

Targets (issues 3 and 19): p99 under 100 ms at 1,000 events/s; memory flat over a 10-minute run.

Usage: ``uv run python bench/bench_console.py [--seconds S] [--minutes M] [--refresh R]
[--sizes 80x24,160x48] [--backend sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import os
import statistics
import subprocess
import sys
import time
from array import array
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import console  # noqa: E402, F401  (first: it sets Textual's frame rate, as the executable does)

FRAME_RATE = int(os.environ["TEXTUAL_FPS"])
"""The console's frame rate in this run (``console.FRAME_RATE`` unless the environment's)."""


from oms_backends import BenchDatabases, parse_backends  # noqa: E402
from textual.message import Message  # noqa: E402

from console.app import TradeConsoleApp  # noqa: E402
from console.widgets.drift_pane import DriftPane  # noqa: E402
from console.widgets.orders_pane import OrdersPane  # noqa: E402
from console.widgets.table_pane import TablePane  # noqa: E402
from core.config import AppConfig, OmsConfig  # noqa: E402
from core.oms import (  # noqa: E402
    BalanceSnapshot,
    DriftObservation,
    Fill,
    OmsStore,
    OrderEvent,
    PositionSnapshot,
    Record,
)

RECORDS_PER_ORDER = 4
BTC = "BTCUSDT.BINANCE"


def order_records(sequence: int, submitted_ns: int) -> list[Record]:
    """One new order's records; its id says when it was submitted."""
    order_id = f"B-{sequence:09d}-{submitted_ns}"
    event = OrderEvent(
        client_order_id=order_id,
        event_id=f"{order_id}-1",
        event_type="ACCEPTED",
        sequence=1,
        ts_event=submitted_ns,
        status="ACCEPTED",
        instrument_id=BTC,
        strategy_id="REBAL-001",
        side="BUY",
        order_type="MARKET",
        quantity=0.1,
        created_at=submitted_ns,
    )
    fill = Fill(
        trade_id=f"T-{sequence}",
        client_order_id=order_id,
        instrument_id=BTC,
        strategy_id="REBAL-001",
        side="BUY",
        quantity=0.1,
        price=94_000.0 + sequence % 50,
        commission=9.4,
        commission_currency="USDT",
        liquidity_side="TAKER",
        ts_event=submitted_ns,
    )
    position = PositionSnapshot(
        position_id="BTCUSDT.BINANCE-REBAL-001",
        event_id=f"P-{sequence}",
        event_type="CHANGED",
        sequence=sequence + 1,
        ts_event=submitted_ns,
        instrument_id=BTC,
        strategy_id="REBAL-001",
        account_id="BINANCE-001",
        side="LONG",
        signed_qty=0.1,
        quantity=0.1,
        avg_px_open=94_000.0,
        last_px=fill.price,
        last_qty=0.1,
        realized_pnl=-9.4,
        unrealized_pnl=float(sequence % 7),
        currency="USDT",
        ts_opened=submitted_ns,
    )
    balance = BalanceSnapshot(
        account_id="BINANCE-001",
        currency="USDT",
        total=100_000.0,
        locked=0.0,
        free=100_000.0,
        ts_event=submitted_ns,
        event_id=f"A-{sequence}",
        account_type="CASH",
    )
    drift = DriftObservation.measure(fill, 94_010.0, "decision", 5.0)
    return [event, position, balance, drift]


def orders_for(rate: int, seconds: float) -> int:
    """How many orders ``rate`` records/s for ``seconds`` make."""
    return round(rate * seconds / RECORDS_PER_ORDER)


async def _feed(path: str, rate: int, seconds: float, first: int, commits: str) -> None:
    settled: list[tuple[int, int]] = []
    async with await OmsStore.open(path) as store:
        store.add_listener(lambda commit: settled.append((commit.committed, time.time_ns())))
        started = time.perf_counter()
        sent = 0
        total = orders_for(rate, seconds)
        # Every 10 ms, the orders due by then: the pace of a node, not one big burst.
        while sent < total:
            due = min(total, orders_for(rate, time.perf_counter() - started))
            for sequence in range(first + sent, first + due):
                store.submit_many(order_records(sequence, time.time_ns()))
            sent = due
            await asyncio.sleep(0.01)
        await store.flush()
    # When each transaction committed, and how many records had been committed by then.
    Path(commits).write_text("".join(f"{count} {ns}\n" for count, ns in settled))


def feed(path: str, rate: int, seconds: float, first: int, commits: str) -> None:
    """The node's stand-in: ``rate`` records/s for ``seconds`` (run in its own process)."""
    asyncio.run(_feed(path, rate, seconds, first, commits))


class Latencies:
    """When each order first showed in a pane: (sequence, submitted ns, shown ns)."""

    def __init__(self) -> None:
        self.latest: dict[type, int] = {OrdersPane: -1, DriftPane: -1}
        self.samples = {kind: (array("q"), array("q"), array("q")) for kind in self.latest}

    def hook(self, message: Message) -> None:
        if not isinstance(message, TablePane.Shown) or type(message.pane) not in self.latest:
            return
        now = time.time_ns()
        kind = type(message.pane)
        latest = self.latest[kind]
        sequences, submitted, shown = self.samples[kind]
        # Rows are newest first: read down to the newest order already seen. Sequence numbers
        # (not a set of seen ids) keep the bench's own memory flat.
        for key in message.keys:
            if not key.startswith("B-"):
                break
            _, sequence, submitted_ns = key.split("/")[0].split("-")
            if int(sequence) <= latest:
                break
            sequences.append(int(sequence))
            submitted.append(int(submitted_ns))
            shown.append(now)
        if message.keys and message.keys[0].startswith("B-"):
            self.latest[kind] = max(latest, int(message.keys[0].split("/")[0].split("-")[1]))

    def take(self) -> dict[type, tuple[array, array, array]]:
        taken = self.samples
        self.samples = {kind: (array("q"), array("q"), array("q")) for kind in self.latest}
        return taken


def latencies_ms(
    taken: tuple[array, array, array], first: int, commits: list[tuple[int, int]]
) -> tuple[list[float], list[float]]:
    """Submit -> shown and commit -> shown, in ms, sorted."""
    counts = [count for count, _ in commits]
    from_submit: list[float] = []
    from_commit: list[float] = []
    for sequence, submitted, shown in zip(*taken, strict=True):
        from_submit.append((shown - submitted) / 1e6)
        needed = (sequence - first + 1) * RECORDS_PER_ORDER
        index = bisect.bisect_left(counts, needed)
        if index < len(commits):
            from_commit.append((shown - commits[index][1]) / 1e6)
    return sorted(from_submit), sorted(from_commit)


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def figures(values: list[float]) -> str:
    if not values:
        return "none shown"
    return (
        f"p50 {statistics.median(values):.0f} ms, p99 {percentile(values, 0.99):.0f} ms, "
        f"max {values[-1]:.0f} ms"
    )


def describe(
    taken: dict[type, tuple[array, array, array]],
    first: int,
    commits: list[tuple[int, int]],
    expected: int,
) -> list[str]:
    lines = []
    for kind, samples in taken.items():
        from_submit, from_commit = latencies_ms(samples, first, commits)
        if not from_submit:
            lines.append(f"    {kind.TITLE:>6}: not on screen at this size (hidden panes wait)")
            continue
        lines.append(
            f"    {kind.TITLE:>6}: submit->shown {figures(from_submit)}; commit->shown "
            f"{figures(from_commit)} ({len(from_submit):,}/{expected:,} orders)"
        )
    return lines


async def run_phase(
    path: str,
    rate: int,
    seconds: float,
    first: int,
    latencies: Latencies,
    commits_file: str | None = None,
) -> tuple[list[str], float]:
    """Feed ``rate`` records/s for ``seconds``; the latency lines and the console's CPU use.

    The feeder logs its commits to ``commits_file`` (default: beside the SQLite file).
    """
    commits_file = commits_file or f"{path}.commits"
    process = psutil.Process()
    cpu_before = process.cpu_times()
    started = time.perf_counter()
    # A fresh interpreter, its output discarded: Textual owns this process's stdout/stderr.
    feeder = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--feed",
            path,
            str(rate),
            str(seconds),
            str(first),
            commits_file,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while feeder.poll() is None:
        await asyncio.sleep(0.05)
    if feeder.returncode != 0:
        raise RuntimeError(f"the feeder failed with exit code {feeder.returncode}")
    await asyncio.sleep(1.0)  # let the last commit reach the panes
    cpu_after = process.cpu_times()
    elapsed = time.perf_counter() - started
    cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed
    commits = [
        (int(count), int(ns))
        for count, ns in (line.split() for line in Path(commits_file).read_text().splitlines())
    ]
    return describe(latencies.take(), first, commits, orders_for(rate, seconds)), cpu


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


async def measure(
    backend: str,
    path: str,
    commits_file: str,
    size: tuple[int, int],
    seconds: float,
    minutes: float,
    refresh: float,
) -> None:
    """The rate phases, then (``minutes`` > 0) the soak, on a fresh OMS at one terminal size."""
    latencies = Latencies()
    async with await OmsStore.open(path) as store:
        oms = OmsConfig(url=path) if store.is_postgres else OmsConfig(database=path)
        # As the command line runs it (collector tuned), at this size and refresh interval.
        app = TradeConsoleApp(
            AppConfig(oms=oms), store=store, refresh_interval=refresh, tune_gc=True
        )
        async with app.run_test(size=size, message_hook=latencies.hook) as pilot:
            await pilot.pause(1.0)
            print(
                f"console at {size[0]}x{size[1]} on {backend}, "
                f"refresh interval {refresh * 1000:.0f} ms"
            )
            first = 0
            for rate in (100, 1000):
                lines, cpu = await run_phase(path, rate, seconds, first, latencies, commits_file)
                first += 10_000_000
                print(f"  {rate} events/s for {seconds:.0f} s, console CPU {cpu * 100:.0f}%:")
                print("\n".join(lines))
            if minutes <= 0:
                return
            print(f"  soak at 1000 events/s for {minutes:g} min, RSS each minute:")
            memory = [rss_mb()]
            for minute in range(round(minutes)):
                lines, cpu = await run_phase(path, 1000, 60.0, first, latencies, commits_file)
                first += 10_000_000
                memory.append(rss_mb())
                print(
                    f"  minute {minute + 1}: RSS {memory[-1]:.1f} MB, CPU {cpu * 100:.0f}%, "
                    f"{len(gc.get_objects()):,} objects tracked"
                )
                print("\n".join(lines))
            database_mb = await store.size_bytes() / 2**20
            print(
                f"  RSS before the soak {memory[0]:.1f} MB, peak {max(memory):.1f} MB, "
                f"last {memory[-1]:.1f} MB; database {database_mb:.0f} MB"
            )


async def main(
    sizes: list[tuple[int, int]],
    seconds: float,
    minutes: float,
    refresh: float,
    backends: list[str],
) -> None:
    with BenchDatabases(backends) as databases:
        for index, size in enumerate(sizes):
            for backend in databases.backends:
                # The soak runs once per back end, at the last size (the grid: the most drawing).
                await measure(
                    backend,
                    databases.fresh(backend, "console"),
                    str(databases.folder / f"commits-{backend}.txt"),
                    size,
                    seconds,
                    minutes if index == len(sizes) - 1 else 0,
                    refresh,
                )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--feed"]:
        feed(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per rate (default 20)")
    parser.add_argument("--minutes", type=float, default=1.0, help="soak length (default 1)")
    parser.add_argument("--refresh", type=float, default=0.05, help="pane refresh interval, s")
    parser.add_argument(
        "--sizes", default="80x24,160x48", help="terminal sizes (default 80x24,160x48)"
    )
    parser.add_argument(
        "--backend", default="sqlite", help="OMS back ends, comma-separated: sqlite,postgresql"
    )
    args = parser.parse_args()
    sizes = [
        (int(width), int(height))
        for width, height in (size.split("x") for size in args.sizes.split(","))
    ]
    asyncio.run(main(sizes, args.seconds, args.minutes, args.refresh, parse_backends(args.backend)))
