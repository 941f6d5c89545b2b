"""Benchmark: what the pre-trade risk checks cost per order.

Prints figures; asserts nothing. For books of 2, 5 and 20 instruments held by two strategies
(every check on: the ``[risk]`` defaults plus per-instrument quantity limits and venue rules),
``--checks`` orders (buys and sells, market and limit, a few over a limit) are checked one by
one, each timed on its own: mean, p50, p99 and max of

- ``check``: the verdict alone (what the strategy pays before each ``submit_order``);
- ``admit``: ``check`` and, when allowed, counting it in the velocity windows (at this pace
  each strategy sends 100 orders a minute, over 80% of the default 120: most orders carry a
  velocity warning, whose message is the dearest part of a check);
- ``check_batch``: a rebalance's orders (one per instrument) checked in sequence, per order;

and, once per book, building the ``MarketView`` (once per rebalance, not per order) and an
``OrderIntent``. Per-call timing adds the timer's own cost (shown) to each figure.

Target (issue 5): checks under 50 microseconds per order.

Usage: ``uv run python bench/bench_risk.py [--checks N] [--instruments 2,5,20]``
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import RiskConfig  # noqa: E402
from core.portfolio.rebalance import InstrumentRules  # noqa: E402
from core.risk import (  # noqa: E402
    InstrumentMarket,
    MarketView,
    OrderIntent,
    PreTradeRisk,
    RiskVerdict,
)

T0 = 1_767_571_200_000_000_000
TARGET_US = 50.0
STRATEGIES = ("REBAL-001", "REBAL-002")
EQUITY = 200_000.0


def book(instruments: int, rng: random.Random) -> tuple[list[str], dict, dict]:
    """Instruments with prices, rules and positions worth a few % of equity each."""
    ids = [f"SYM{i:02d}USDT.BINANCE" for i in range(instruments)]
    markets: dict[str, InstrumentMarket] = {}
    positions: dict[tuple[str, str], float] = {}
    for instrument_id in ids:
        price = rng.uniform(1.0, 60_000.0)
        rules = InstrumentRules(
            lot_size=1e-5, size_precision=5, min_quantity=1e-5, min_notional=5.0, taker_fee=0.001
        )
        markets[instrument_id] = InstrumentMarket(
            last=price, mid=price * 1.0001, rules=rules, multiplier=1.0
        )
        for strategy_id in STRATEGIES:
            weight = rng.uniform(-0.01, 0.6 / instruments)
            positions[(strategy_id, instrument_id)] = round(weight * EQUITY / price, 5)
    return ids, markets, positions


def config(ids: list[str], markets: dict[str, InstrumentMarket]) -> RiskConfig:
    """The ``[risk]`` defaults, plus quantity limits on every instrument, so every rule runs."""
    return RiskConfig(
        max_position_quantity={i: 150_000.0 / markets[i].last for i in ids},
        max_order_quantity={i: 20_000.0 / markets[i].last for i in ids},
    )


def intents(
    n: int, ids: list[str], markets: dict[str, InstrumentMarket], rng: random.Random
) -> list[OrderIntent]:
    """Orders of 0.1% to 3% of equity, 300 ms apart, a quarter of them limit orders; a few
    are too big or too far from the price."""
    made: list[OrderIntent] = []
    for k in range(n):
        instrument_id = ids[k % len(ids)]
        price = markets[instrument_id].last
        notional = rng.uniform(0.001, 0.03) * EQUITY * (5 if rng.random() < 0.02 else 1)
        quantity = max(round(notional / price, 5), 1e-5)
        limit = rng.random() < 0.25
        drift_bps = rng.uniform(-60, 60) * (3 if rng.random() < 0.02 else 1)
        made.append(
            OrderIntent(
                strategy_id=STRATEGIES[k % 2],
                instrument_id=instrument_id,
                side="BUY" if rng.random() < 0.5 else "SELL",
                quantity=quantity,
                order_type="LIMIT" if limit else "MARKET",
                ts_ns=T0 + k * 300_000_000,
                limit_price=price * (1 + drift_bps / 10_000) if limit else None,
                expected_price=None if limit else price * (1 + drift_bps / 20_000),
            )
        )
    return made


class Tally:
    """What the verdicts said, counted as they come (keeping 100k verdicts alive would make
    the garbage collector's full passes, not the checks, the slowest calls)."""

    def __init__(self) -> None:
        self.allowed = 0
        self.warned = 0
        self.denied: dict[str, int] = {}

    def add(self, verdict: object) -> None:
        if not isinstance(verdict, RiskVerdict):
            return
        self.allowed += verdict.allowed
        self.warned += bool(verdict.warnings)
        if verdict.denial is not None:
            rule = str(verdict.denial.rule)
            self.denied[rule] = self.denied.get(rule, 0) + 1

    def __str__(self) -> str:
        denied = ", ".join(f"{rule} {count}" for rule, count in sorted(self.denied.items()))
        return f"{self.allowed:,} allowed ({self.warned:,} with warnings); denied: {denied}"


def timed(calls: list[Callable[[], object]]) -> tuple[list[float], Tally]:
    """Microseconds per call, each timed on its own, and a tally of the verdicts."""
    clock = time.perf_counter_ns
    costs: list[float] = []
    tally = Tally()
    for call in calls:
        start = clock()
        result = call()
        costs.append((clock() - start) / 1_000)
        tally.add(result)
    return costs, tally


def figures(costs: list[float]) -> str:
    ordered = sorted(costs)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[int(len(ordered) * 0.99)]
    verdict = "ok" if p99 < TARGET_US else "OVER"
    return (
        f"mean {statistics.fmean(costs):6.2f} us  p50 {p50:6.2f}  p99 {p99:6.2f}  "
        f"max {ordered[-1]:8.2f}  [{verdict} vs {TARGET_US:g} us]"
    )


def timer_cost() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(100_000):
        start = clock()
        samples.append(clock() - start)
    return statistics.fmean(samples) / 1_000


def run(instruments: int, checks: int, seed: int) -> None:
    rng = random.Random(seed)
    ids, markets, positions = book(instruments, rng)
    risk_config = config(ids, markets)
    orders = intents(checks, ids, markets, rng)

    started = time.perf_counter_ns()
    for _ in range(1_000):
        view = MarketView(EQUITY, positions, markets)
    view_us = (time.perf_counter_ns() - started) / 1_000 / 1_000
    sample = orders[0]
    started = time.perf_counter_ns()
    for _ in range(10_000):
        OrderIntent(
            strategy_id=sample.strategy_id,
            instrument_id=sample.instrument_id,
            side=sample.side,
            quantity=sample.quantity,
            order_type=sample.order_type,
            ts_ns=sample.ts_ns,
            limit_price=sample.limit_price,
            expected_price=sample.expected_price,
        )
    intent_us = (time.perf_counter_ns() - started) / 1_000 / 10_000

    risk = PreTradeRisk(risk_config)
    for k, intent in enumerate(orders[:200]):  # the windows as after a busy minute before T0
        risk.record_sent(dataclasses.replace(intent, ts_ns=T0 - (200 - k) * 300_000_000))
    check, checked = timed([lambda i=i: risk.check(i, view, "ACTIVE") for i in orders])

    admitting = PreTradeRisk(risk_config)
    admit, admitted = timed([lambda i=i: admitting.admit(i, view, "ACTIVE") for i in orders])

    batches = [orders[k : k + instruments] for k in range(0, min(checks, 20_000), instruments)]
    batch_risk = PreTradeRisk(risk_config)
    batch, _ = timed([lambda b=b: batch_risk.check_batch(b, view, "ACTIVE") for b in batches])
    per_order = [cost / instruments for cost in batch]

    print(f"{instruments} instruments, 2 strategies, {checks:,} orders:")
    print(f"  check        {figures(check)}")
    print(f"  admit        {figures(admit)}")
    print(f"  check_batch  {figures(per_order)}  (per order, batches of {instruments})")
    print(f"  MarketView build {view_us:.1f} us (once per rebalance)")
    print(f"  OrderIntent {intent_us:.2f} us (once per order)")
    print(f"  check verdicts: {checked}")
    print(f"  admit verdicts: {admitted}")


def main(checks: int, sizes: list[int], seed: int) -> None:
    print(f"python {sys.version.split()[0]}; timer overhead {timer_cost():.3f} us per call")
    for instruments in sizes:
        gc.collect()
        run(instruments, checks, seed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=100_000, help="orders checked per book")
    parser.add_argument("--instruments", default="2,5,20", help="book sizes, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    main(args.checks, [int(n) for n in args.instruments.split(",")], args.seed)
