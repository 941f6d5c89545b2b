"""Benchmark: how fast the OMS ingests, how long a record waits to be committed, what it costs.

Prints figures; asserts nothing. Each measurement runs on each back end of ``--backend``
(default both, one after the other, each figure printed for both): a fresh SQLite file in a
temporary folder, and a fresh database on a PostgreSQL 15 server the bench starts on 127.0.0.1
(``bench/oms_backends.py``). The measurements:

- burst: ``--records`` records submitted at once (the mix a node produces for one order:
  four order events, a fill, a position snapshot, a balance and a drift observation), then
  ``flush``: records/s from the first submit to the last commit, and the transactions used.
- paced: ``--rate`` records/s for ``--seconds`` seconds in 10 ms bursts, as a live node would
  deliver them: submit-to-commit latency (p50, p99, max), the longest event-loop stall seen by
  a 1 ms ticker, and resident memory sampled every second (first, peak, last).
- readers on the resulting database: the queries the panes run, and reopening it (SQLite
  with its integrity check).
- commit -> read in another process: ``bench_console.py``'s feeder, in its own process, writes
  ``--rate`` records/s (new orders, four records each) for ``--seconds``; here a store's
  ``watch`` (what a console runs: on SQLite a poll every 20 ms, the console's interval; on
  PostgreSQL woken by ``NOTIFY``) sees each commit and reads the orders as the Orders pane does
  (``orders(200)``): from the feeder's commit to the rows read, p50, p99, max.
- feed: ``--orders`` real Nautilus orders (initialised, submitted, accepted, filled) through
  ``OmsFeed``'s conversions and the store: Nautilus events/s end to end.

Targets (issues 3 and 19): ingest >= 5,000 events/s; commit -> pane p99 < 100 ms at 1,000
events/s (the pane's own drawing is measured by ``bench_console.py``).

Usage: ``uv run python bench/bench_oms.py [--records N] [--rate R] [--seconds S] [--orders N]
[--backend sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from array import array
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oms_backends import BenchDatabases, parse_backends  # noqa: E402

from core.oms import (  # noqa: E402
    BalanceSnapshot,
    Commit,
    DriftObservation,
    Fill,
    OmsStore,
    OrderEvent,
    PositionSnapshot,
    Record,
)

T0 = 1_767_571_200_000_000_000
STATUSES = ("INITIALIZED", "SUBMITTED", "ACCEPTED", "FILLED")


def order_records(n: int) -> list[Record]:
    """What one market order leaves in the OMS: eight records."""
    order_id = f"O-{n}"
    ts = T0 + n * 1_000_000
    events: list[Record] = [
        OrderEvent(
            client_order_id=order_id,
            event_id=f"{order_id}-{sequence}",
            event_type=status,
            sequence=sequence,
            ts_event=ts + sequence,
            status=status,
            instrument_id="BTCUSDT.BINANCE",
            strategy_id="REBAL-001",
            side="BUY",
            order_type="MARKET",
            quantity=0.1,
            filled_qty=0.1 if status == "FILLED" else 0.0,
            avg_px=94_000.0 if status == "FILLED" else None,
            operation_id=f"op-{n // 10}",
            decision_price=93_999.0,
            created_at=ts,
        )
        for sequence, status in enumerate(STATUSES, start=1)
    ]
    fill = Fill(
        trade_id=f"T-{n}",
        client_order_id=order_id,
        instrument_id="BTCUSDT.BINANCE",
        strategy_id="REBAL-001",
        side="BUY",
        quantity=0.1,
        price=94_000.0,
        commission=9.4,
        commission_currency="USDT",
        liquidity_side="TAKER",
        ts_event=ts + 4,
        decision_price=93_999.0,
    )
    position = PositionSnapshot(
        position_id="BTCUSDT.BINANCE-REBAL-001",
        event_id=f"P-{n}",
        event_type="CHANGED",
        sequence=n + 1,
        ts_event=ts + 4,
        instrument_id="BTCUSDT.BINANCE",
        strategy_id="REBAL-001",
        account_id="BINANCE-001",
        side="LONG",
        signed_qty=0.1 * (n + 1),
        quantity=0.1 * (n + 1),
        avg_px_open=94_000.0,
        last_px=94_000.0,
        last_qty=0.1,
        realized_pnl=-9.4,
        unrealized_pnl=0.0,
        currency="USDT",
        ts_opened=T0,
    )
    balance = BalanceSnapshot(
        account_id="BINANCE-001",
        currency="USDT",
        total=100_000.0 - n,
        locked=0.0,
        free=100_000.0 - n,
        ts_event=ts + 4,
        event_id=f"A-{n}",
        account_type="CASH",
    )
    drift = DriftObservation.measure(fill, 93_999.0, "decision", 5.0)
    return [*events, fill, position, balance, drift]


def records(count: int, start: int = 0) -> list[Record]:
    out: list[Record] = []
    n = start
    while len(out) < count:
        out.extend(order_records(n))
        n += 1
    return out[:count]


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


async def burst(backend: str, target: str, count: int) -> None:
    batch = records(count)
    async with await OmsStore.open(target) as store:
        started = time.perf_counter()
        for record in batch:
            store.submit(record)
        submitted = time.perf_counter()
        await store.flush()
        done = time.perf_counter()
        stats = store.stats
    rate = count / (done - started)
    print(
        f"burst [{backend}]: {count:,} records in {done - started:.2f} s = {rate:,.0f} records/s "
        f"(target >= 5,000); submit {1e6 * (submitted - started) / count:.2f} us/record; "
        f"{stats.batches} transactions, {stats.commit_seconds:.2f} s inside them"
    )


async def paced(backend: str, target: str, rate: int, seconds: float) -> None:
    async with await OmsStore.open(target) as store:
        waiting: deque[float] = deque()
        latencies: list[float] = []

        def on_commit(commit: Commit) -> None:
            now = time.perf_counter()
            for _ in range(commit.records):
                latencies.append(now - waiting.popleft())

        store.add_listener(on_commit)
        stall = 0.0
        running = True

        async def ticker() -> None:
            nonlocal stall
            last = time.perf_counter()
            while running:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                stall = max(stall, now - last - 0.001)
                last = now

        tick_task = asyncio.create_task(ticker())
        memory = [rss_mb()]
        per_burst = max(1, rate // 100)
        next_index = 10_000_000  # ids apart from the burst's
        started = time.perf_counter()
        next_burst = started
        next_sample = started + 1.0
        while (now := time.perf_counter()) - started < seconds:
            for record in records(per_burst, next_index):
                waiting.append(time.perf_counter())
                store.submit(record)
            next_index += per_burst // 8 + 1
            if now >= next_sample:
                memory.append(rss_mb())
                next_sample += 1.0
            next_burst += 0.01
            await asyncio.sleep(max(0.0, next_burst - time.perf_counter()))
        await store.flush()
        running = False
        await tick_task
        memory.append(rss_mb())
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(
        f"paced [{backend}]: {len(latencies):,} records at {rate:,}/s for {seconds:.0f} s: "
        f"submit->commit p50 {1e3 * p50:.1f} ms, p99 {1e3 * p99:.1f} ms, "
        f"max {1e3 * latencies[-1]:.1f} ms; longest event-loop stall {1e3 * stall:.1f} ms; "
        f"memory (RSS) first {memory[0]:.0f} MB, peak {max(memory):.0f} MB, "
        f"last {memory[-1]:.0f} MB over {len(memory)} samples"
    )


async def best_ms(call: Callable[[], Awaitable[object]], repeat: int = 20) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        best = min(best, time.perf_counter() - started)
    return 1e3 * best


async def readers(backend: str, target: str) -> tuple[str, dict[str, float]]:
    """What the resulting database holds, and each pane query's best time (ms)."""
    started = time.perf_counter()
    store = await OmsStore.open(target)
    opened = 1e3 * (time.perf_counter() - started)
    size = await store.size_bytes() / 2**20
    counts = await store.counts()
    about = (
        f"{backend}: {size:.0f} MB, {counts['order_events']:,} order events, "
        f"{counts['fills']:,} fills"
    )
    times = {
        "open (SQLite: with quick_check), once": opened,
        "orders(limit=200)": await best_ms(lambda: store.orders(200)),
        "fills(limit=200)": await best_ms(lambda: store.fills(200)),
        "drift(limit=200)": await best_ms(lambda: store.drift(200)),
        "positions()": await best_ms(store.positions),
        "order_history(one order)": await best_ms(lambda: store.order_history("O-123")),
        "changes_since(version)": await best_ms(lambda: store.changes_since(0)),
        "counts(), best of 3": await best_ms(store.counts, repeat=3),
    }
    await store.close()
    return about, times


def print_readers(results: dict[str, tuple[str, dict[str, float]]]) -> None:
    print("readers on the resulting databases (" + "; ".join(a for a, _ in results.values()) + ")")
    print(f"  {'best of 20, ms':<38}" + "".join(f"{backend:>12}" for backend in results))
    for label in next(iter(results.values()))[1]:
        print(f"  {label:<38}" + "".join(f"{t[label]:12.2f}" for _, t in results.values()))


WATCH_INTERVAL = 0.02
"""The console's ``poll_interval``: how often its ``watch`` polls a SQLite OMS."""


async def commit_to_read(
    backend: str, target: str, scratch: Path, rate: int, seconds: float
) -> None:
    """From a commit in another process to ``watch`` seeing it and ``orders`` reading its rows."""
    from bench_console import RECORDS_PER_ORDER, figures, latencies_ms, orders_for

    commits_file = scratch / f"commits-{backend}.txt"
    taken = (array("q"), array("q"), array("q"))  # sequence, submitted ns, read ns
    async with await OmsStore.open(target) as store:  # created here, before the feeder opens it

        async def read() -> None:
            newest = -1
            async for changes in store.watch(interval=WATCH_INTERVAL):
                if "orders" not in changes.tables:
                    continue
                rows = await store.orders(200)
                now = time.time_ns()
                # Newest first: read down to the newest order already seen.
                for order in rows:
                    _, sequence, submitted_ns = order.client_order_id.split("-")
                    if int(sequence) <= newest:
                        break
                    taken[0].append(int(sequence))
                    taken[1].append(int(submitted_ns))
                    taken[2].append(now)
                if rows:
                    newest = max(newest, int(rows[0].client_order_id.split("-")[1]))

        reading = asyncio.create_task(read())
        await asyncio.sleep(0.5)  # PostgreSQL: the listener connected
        feeder = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "bench_console.py"),
                "--feed",
                target,
                str(rate),
                str(seconds),
                "0",
                str(commits_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        while feeder.poll() is None:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the last commit read
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    if feeder.returncode != 0:
        raise RuntimeError(f"the feeder failed with exit code {feeder.returncode}")
    commits = [
        (int(count), int(ns))
        for count, ns in (line.split() for line in commits_file.read_text().splitlines())
    ]
    from_submit, from_commit = latencies_ms(taken, 0, commits)
    per_commit = commits[-1][0] / len(commits) if commits else 0.0
    print(
        f"commit->read [{backend}], {rate:,} records/s for {seconds:.0f} s, "
        f"{len(commits):,} commits of ~{per_commit:.0f} records: commit->read "
        f"{figures(from_commit)} (target p99 < 100 ms, before the pane draws); "
        f"submit->read {figures(from_submit)} "
        f"({len(from_submit):,}/{orders_for(rate, seconds):,} orders, "
        f"{RECORDS_PER_ORDER} records each)"
    )


async def feed(backend: str, target: str, orders: int) -> None:
    """Nautilus events through ``OmsFeed``'s conversions into the store, end to end."""
    import warnings

    warnings.simplefilter("ignore")
    from nautilus_trader.model.identifiers import ClientOrderId
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.test_kit.stubs.events import TestEventStubs
    from nautilus_trader.test_kit.stubs.execution import TestExecStubs

    from core.execution.oms_feed import fill_record, initialized_event, order_event

    instrument = TestInstrumentProvider.btcusdt_binance()
    prepared = []
    for n in range(orders):
        order = TestExecStubs.market_order(
            instrument=instrument, client_order_id=ClientOrderId(f"O-feed-{n}")
        )
        events = []
        for make in (TestEventStubs.order_submitted, TestEventStubs.order_accepted):
            events.append(make(order))
            order.apply(events[-1])
        events.append(TestEventStubs.order_filled(order, instrument))
        order.apply(events[-1])
        prepared.append((order, events))
    count = orders * 4  # initialised, submitted, accepted, filled
    async with await OmsStore.open(target) as store:
        started = time.perf_counter()
        for order, events in prepared:
            store.submit(initialized_event(order.init_event))
            for event in events:
                store.submit(order_event(event, order))
            store.submit(fill_record(events[-1], order))
        converted = time.perf_counter()
        await store.flush()
        done = time.perf_counter()
    print(
        f"feed [{backend}]: {count:,} Nautilus order events (+{orders:,} fills) converted and "
        f"written in {done - started:.2f} s = {count / (done - started):,.0f} events/s "
        f"(target >= 5,000); conversion {1e6 * (converted - started) / count:.1f} us/event "
        "on the node's loop"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records in the burst")
    parser.add_argument("--rate", type=int, default=1_000, help="records/s, paced and watched")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of those runs")
    parser.add_argument("--orders", type=int, default=20_000, help="orders through the feed")
    parser.add_argument(
        "--backend", default="sqlite,postgresql", help="back ends, comma-separated (default both)"
    )
    args = parser.parse_args()
    with BenchDatabases(parse_backends(args.backend)) as databases:
        backends = databases.backends
        print(f"RSS at start {rss_mb():.0f} MB; back ends: {', '.join(backends)}")
        # Burst, paced and readers share one database per back end, as they always did.
        targets = {backend: databases.fresh(backend, "oms") for backend in backends}
        for backend in backends:
            await burst(backend, targets[backend], args.records)
        for backend in backends:
            await paced(backend, targets[backend], args.rate, args.seconds)
        print_readers({backend: await readers(backend, targets[backend]) for backend in backends})
        for backend in backends:
            await commit_to_read(
                backend,
                databases.fresh(backend, "watch"),
                databases.folder,
                args.rate,
                args.seconds,
            )
        # Last: importing Nautilus adds ~0.3 GB that would hide the memory figures above.
        for backend in backends:
            await feed(backend, databases.fresh(backend, "feed"), args.orders)


if __name__ == "__main__":
    asyncio.run(main())
