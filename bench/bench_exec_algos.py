"""Benchmark: implementation shortfall of TWAP and VWAP against one market order.

Prints figures; asserts nothing. Demo data (``--days`` days, the last one traded, the ones
before it the VWAP's volume history) is written to a temporary folder. The same parents (BUY
then SELL of the same size, alternating, on BTCUSDT and ETHUSDT, an hour apart) are worked in
one backtest per way of executing them:

- ``market``: one plain market order of the whole size (the rebalancer without algorithms);
- ``twap``: ``--horizon`` seconds, a market child every ``--interval`` seconds;
- ``twap-limit``: the same with limit children 5 bps through the best/last price;
- ``vwap``: the same horizon and interval, shares from the previous days' volume profile.

Implementation shortfall of a parent, in bps, is ``sign * (average fill - arrival) / arrival``
(sign +1 to buy, -1 to sell; arrival = last trade when the parent was submitted): positive is
a cost. The desk's fill model has no market impact beyond the last trade's size (the rest of a
market order fills one tick worse), so a market order pays little for size here and a TWAP
mostly carries the drift of its horizon: the spread of the shortfall is the point to read.

Usage: ``uv run python bench/bench_exec_algos.py [--days 3] [--trades 120000]
[--horizon 600] [--interval 60]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nautilus_trader.model.enums import OrderSide  # noqa: E402

from core.backtest.algo_trial import ParentSpec, Trial, run_trial  # noqa: E402
from core.data.demo_data import generate_demo_data  # noqa: E402

FIRST_DAY = dt.date(2026, 1, 5)
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
SIZES = {BTC: (0.2, 0.8), ETH: (5.0, 25.0)}  # up to ~80k USDT of the 100k account
SECOND = 1_000_000_000


def _parents(day: dt.date, algorithm: str | None, params: dict) -> list[ParentSpec]:
    """Per instrument and size, a BUY then a SELL an hour later (cash accounts sell what
    they bought); all parents an hour apart, so no two are worked at once."""
    start = int(dt.datetime.combine(day, dt.time(1), dt.UTC).timestamp()) * SECOND
    parents: list[ParentSpec] = []
    for instrument, sizes in SIZES.items():
        for size in sizes:
            for side in ("BUY", "SELL"):
                at = start + len(parents) * 3_600 * SECOND
                parents.append(ParentSpec(instrument, side, size, at, algorithm, dict(params)))
    return parents


def _shortfalls(trial: Trial) -> list[tuple[str, float, float, int]]:
    """(instrument, size, shortfall in bps, orders sent) of each parent."""
    cache = trial.engine.cache
    rows = []
    for parent_id, arrival in trial.strategy.arrivals.items():
        orders = [
            o
            for o in cache.orders()
            if o.client_order_id.value == parent_id
            or (o.exec_spawn_id is not None and o.exec_spawn_id.value == parent_id)
        ]
        filled = [o for o in orders if o.filled_qty.as_double() > 0]
        qty = sum(o.filled_qty.as_double() for o in filled)
        if qty == 0:
            rows.append((orders[0].instrument_id.value, 0.0, float("nan"), 0))
            continue
        average = sum(o.filled_qty.as_double() * o.avg_px for o in filled) / qty
        sign = 1.0 if orders[0].side == OrderSide.BUY else -1.0
        shortfall = sign * (average - arrival) / arrival * 10_000
        rows.append((orders[0].instrument_id.value, qty, shortfall, len(filled)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--trades", type=int, default=120_000, help="trades a day per instrument")
    parser.add_argument("--horizon", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=60.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-exec-"))
    root = str(folder / "data")
    began = time.perf_counter()
    generate_demo_data(
        root,
        days=args.days,
        first_day=FIRST_DAY,
        trades_per_day={BTC: args.trades, ETH: args.trades},
    )
    print(
        f"demo data: {args.days} days, {args.trades:,} trades/day/instrument "
        f"({time.perf_counter() - began:.1f} s)"
    )
    day = FIRST_DAY + dt.timedelta(days=args.days - 1)
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    end = start + dt.timedelta(hours=10)
    timing = {"horizon_secs": args.horizon, "interval_secs": args.interval}
    ways = {
        "market": (None, {}),
        "twap": ("TWAP", timing),
        "twap-limit": ("TWAP", {**timing, "child_order_type": "limit", "limit_offset_bps": 5.0}),
        "vwap": ("VWAP", timing),
    }
    results: dict[str, list[tuple[str, float, float, int]]] = {}
    for name, (algorithm, params) in ways.items():
        began = time.perf_counter()
        trial = run_trial(
            root, [BTC, ETH], start, end, _parents(day, algorithm, params), folder / name
        )
        try:
            results[name] = _shortfalls(trial)
        finally:
            trial.dispose()
        print(f"{name:>10}: backtest of 10 h, {time.perf_counter() - began:.1f} s")
    print()
    print(
        f"implementation shortfall vs arrival (bps, + = cost), horizon {args.horizon:g} s, "
        f"interval {args.interval:g} s, on {day}"
    )
    header = f"{'parent':<28}" + "".join(f"{name:>16}" for name in ways)
    print(header)
    parents = _parents(day, None, {})
    for i, parent in enumerate(parents):
        label = f"{parent.side} {parent.quantity:g} {parent.instrument_id.split('.')[0]}"
        cells = "".join(f"{results[name][i][2]:>10.2f} ({results[name][i][3]:>2})" for name in ways)
        print(f"{label:<28}{cells}")
    print(
        f"{'mean':<28}"
        + "".join(f"{statistics.fmean(r[2] for r in results[name]):>16.2f}" for name in ways)
    )
    print(
        f"{'stdev':<28}"
        + "".join(f"{statistics.stdev(r[2] for r in results[name]):>16.2f}" for name in ways)
    )
    print("(n) = orders that filled for the parent")


if __name__ == "__main__":
    main()
