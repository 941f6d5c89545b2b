"""Benchmark: what one smart-order-routing decision costs.

Prints figures; asserts nothing. For 2, 5 and 10 candidate venues of one asset, ``--orders``
orders (buys and sells of random sizes, market and limit) are routed one by one through
``SmartOrderRouter.route``, each timed on its own: mean, p50, p99 and max in microseconds.
Venues get random fees, latency penalties, recent volumes and (for half of them) book depth,
and cash-like hard caps on some, so that a share of the decisions split across venues (the
dearer path: the allocation, the lot grid and a longer explanation); the split share is shown.
With an external venue among them (``--external``, default on): the Gemini venue's quote is
built per decision by ``ExternalRoutes.quote`` (the real code: fees from ``[routing.venues]``,
the public tape and book in the tracker, the spot hard cap from the polled balances) and
routed with the others; the figure is quote + decision.
Also timed: ``LiquidityTracker.on_trade`` (paid on every trade tick while routing is on) and
``volume`` (once per venue per decision). Per-call timing adds the timer's own cost (shown).

Target (issue 7): a decision under 1 ms per order.

Usage: ``uv run python bench/bench_router.py [--orders N] [--venues 2,5,10]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import (  # noqa: E402
    AppConfig,
    ExternalVenueConfig,
    RoutingConfig,
    RoutingVenueConfig,
)
from core.execution.external.adapter import ExternalInstrument, ExternalMarket, PublicTrade  # noqa: E402
from core.execution.external.routes import ExternalRoutes  # noqa: E402
from core.execution.external.venues import ExternalVenues  # noqa: E402
from core.execution.routing import LiquidityTracker, SmartOrderRouter, VenueQuote  # noqa: E402
from core.oms import OmsStore  # noqa: E402
from core.oms.events import BalanceSnapshot  # noqa: E402

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


async def _gemini_routes(folder: str) -> tuple[ExternalRoutes, OmsStore]:
    """A real ``ExternalRoutes`` over a real ``ExternalVenues`` (not connected: a quote reads
    only what the poller and the market feed hold), filled as after a poll and a tape read."""
    os.environ["BENCH_GEMINI_KEY"] = os.environ["BENCH_GEMINI_SECRET"] = "bench"
    gemini = ExternalVenueConfig(
        name="GEMINI",
        api_key_env="BENCH_GEMINI_KEY",
        api_secret_env="BENCH_GEMINI_SECRET",
        instruments=("BTCUSDT",),
    )
    routing = RoutingConfig(enabled=True, venues={"GEMINI": RoutingVenueConfig(taker_fee_bps=4.0)})
    config = AppConfig(external_venues=(gemini,), routing=routing)
    store = await OmsStore.open(Path(folder) / "oms.sqlite")
    venues = ExternalVenues.from_config(config, store)
    tracker = LiquidityTracker(window_ns=300 * 1_000_000_000)
    routes = ExternalRoutes(venues, routing, tracker, "USDT")
    instrument_id = "BTCUSDT.GEMINI"
    routes.instruments[instrument_id] = ExternalInstrument(
        instrument_id=instrument_id,
        symbol="btcusdt",
        base="BTC",
        quote="USDT",
        price_increment=0.01,
        size_increment=1e-8,
        min_quantity=1e-5,
        kind="spot",
        status="open",
    )
    book = venues.poller.books["GEMINI"]
    for currency, total in (("BTC", 2.0), ("USDT", 150_000.0)):
        book.balances[currency] = BalanceSnapshot(
            account_id="GEMINI-API",
            currency=currency,
            total=total,
            locked=0.0,
            free=total,
            ts_event=0,
            event_id=f"bench-{currency}",
            account_type="MARGIN",
        )
    now = time.time_ns()
    trades = tuple(
        PublicTrade(trade_id=f"t{i}", price=PRICE, quantity=0.01, ts_event=now - (500 - i) * 10**9)
        for i in range(500)
    )
    routes.on_market(
        ExternalMarket(
            instrument_id=instrument_id,
            last=PRICE,
            bid=PRICE - 1,
            ask=PRICE + 1,
            bid_size=1.5,
            ask_size=1.2,
            trades=trades,
            ts_event=now,
        )
    )
    return routes, store


def bench_with_external(count: int, orders: int, seed: int) -> None:
    """``count`` Nautilus-like venues plus Gemini, whose quote is built for every decision."""
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_bench_with_external(count, orders, seed, folder))


async def _bench_with_external(count: int, orders: int, seed: int, folder: str) -> None:
    rng = random.Random(seed)
    candidates = venues(count, rng)
    router = SmartOrderRouter(max_participation=0.1)
    requests = [
        (rng.choice(("BUY", "SELL")), round(rng.uniform(0.001, 3.0), 5)) for _ in range(orders)
    ]
    routes, store = await _gemini_routes(folder)
    now = time.time_ns()
    samples: list[float] = []
    chosen = 0
    gc.disable()
    try:
        for side, quantity in requests:
            t0 = time.perf_counter_ns()
            quote = routes.quote("BTCUSDT.GEMINI", side, now, {})
            assert quote is not None
            decision = router.route(side, quantity, [*candidates, quote])
            samples.append((time.perf_counter_ns() - t0) / 1_000)
            chosen += any(leg.venue == "GEMINI" for leg in decision.legs)
    finally:
        gc.enable()
        await store.close()
    print(
        f"{count:2d} venues + GEMINI (external), {orders:,} decisions "
        f"({chosen / orders:.0%} with a GEMINI leg):"
    )
    print(f"  quote+route {figures(samples)}")


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


def main(orders: int, sizes: list[int], seed: int, external: bool = True) -> None:
    print(f"timer overhead ~{timer_cost():.2f} us per sample (included in every figure)")
    for count in sizes:
        bench_decisions(count, orders, seed)
    if external:
        for count in sizes:
            bench_with_external(count, orders, seed)
    bench_tracker(200_000, seed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="decisions per venue count")
    parser.add_argument("--venues", default="2,5,10", help="venue counts, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-external", action="store_true", help="skip the runs with an external venue"
    )
    args = parser.parse_args()
    main(args.orders, [int(v) for v in args.venues.split(",")], args.seed, not args.no_external)
