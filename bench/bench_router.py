"""Benchmark: what one smart-order-routing decision costs.

Prints figures; asserts nothing. For 2, 5 and 10 candidate venues of one asset, ``--orders``
orders (buys and sells of random sizes, market and limit) are routed one by one through
``SmartOrderRouter.route``, each timed on its own: mean, p50, p99 and max in microseconds.
Venues get random fees, latency penalties, recent volumes and (for half of them) book depth,
and cash-like hard caps on some, so that a share of the decisions split across venues (the
dearer path: the allocation, the lot grid and a longer explanation); the split share is shown.
Also timed: ``LiquidityTracker.on_trade`` (paid on every trade tick while routing is on) and
``volume`` (once per venue per decision). Per-call timing adds the timer's own cost (shown).

Target (issue 7): a decision under 1 ms per order.

Usage: ``uv run python bench/bench_router.py [--orders N] [--venues 2,5,10]``
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.routing import LiquidityTracker, SmartOrderRouter, VenueQuote  # noqa: E402

PRICE = 94_000.0


def venues(count: int, rng: random.Random) -> list[VenueQuote]:
    """``count`` venues of BTCUSDT with random costs and liquidity."""
    return [
        VenueQuote(
            venue=f"VENUE{i}",
            instrument_id=f"BTCUSDT.VENUE{i}",
            maker_fee_bps=rng.uniform(-1.0, 4.0),
            taker_fee_bps=rng.uniform(2.0, 10.0),
            latency_penalty_bps=rng.uniform(0.0, 3.0),
            recent_volume=rng.uniform(0.5, 50.0),
            depth=rng.uniform(0.1, 5.0) if i % 2 else None,
            price=PRICE * (1 + rng.uniform(-1e-4, 1e-4)),
            lot_size=0.00001,
            size_precision=5,
            min_quantity=0.00001,
            min_notional=5.0,
            max_quantity=rng.uniform(0.5, 5.0) if i % 3 == 0 else None,
        )
        for i in range(count)
    ]


def figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"mean {statistics.fmean(ordered):7.1f} us  p50 {statistics.median(ordered):7.1f} us  "
        f"p99 {p99:7.1f} us  max {ordered[-1]:7.1f} us"
    )


def timer_cost() -> float:
    samples = []
    for _ in range(10_000):
        t0 = time.perf_counter_ns()
        samples.append((time.perf_counter_ns() - t0) / 1_000)
    return statistics.median(samples)


def bench_decisions(count: int, orders: int, seed: int) -> None:
    rng = random.Random(seed)
    candidates = venues(count, rng)
    router = SmartOrderRouter(max_participation=0.1)
    requests = [
        (
            rng.choice(("BUY", "SELL")),
            round(rng.uniform(0.001, 3.0), 5),
            rng.choice(("MARKET", "LIMIT")),
        )
        for _ in range(orders)
    ]
    for side, quantity, kind in requests[:200]:  # warm-up
        router.route(side, quantity, candidates, kind)
    samples: list[float] = []
    splits = 0
    gc.disable()
    try:
        for side, quantity, kind in requests:
            t0 = time.perf_counter_ns()
            decision = router.route(side, quantity, candidates, kind)
            samples.append((time.perf_counter_ns() - t0) / 1_000)
            splits += decision.is_split
    finally:
        gc.enable()
    print(f"{count:2d} venues, {orders:,} decisions ({splits / orders:.0%} split):")
    print(f"  route     {figures(samples)}")


def bench_tracker(trades: int, seed: int) -> None:
    rng = random.Random(seed)
    tracker = LiquidityTracker(window_ns=300 * 1_000_000_000)
    ts = 0
    on_trade: list[float] = []
    volume: list[float] = []
    for _ in range(trades):
        ts += rng.randint(1_000_000, 50_000_000)  # 20-1,000 trades a second
        size = rng.uniform(0.0001, 0.1)
        t0 = time.perf_counter_ns()
        tracker.on_trade("BTCUSDT.VENUE0", ts, size)
        on_trade.append((time.perf_counter_ns() - t0) / 1_000)
    for _ in range(10_000):
        ts += 10_000_000
        t0 = time.perf_counter_ns()
        tracker.volume("BTCUSDT.VENUE0", ts)
        volume.append((time.perf_counter_ns() - t0) / 1_000)
    print(f"liquidity tracker, {trades:,} trades:")
    print(f"  on_trade  {figures(on_trade)}")
    print(f"  volume    {figures(volume)}")


def main(orders: int, sizes: list[int], seed: int) -> None:
    print(f"timer overhead ~{timer_cost():.2f} us per sample (included in every figure)")
    for count in sizes:
        bench_decisions(count, orders, seed)
    bench_tracker(200_000, seed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="decisions per venue count")
    parser.add_argument("--venues", default="2,5,10", help="venue counts, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    main(args.orders, [int(v) for v in args.venues.split(",")], args.seed)
