"""Benchmark: implementation shortfall by order size, market vs TWAP vs VWAP vs iceberg.

Prints figures; asserts nothing. Each parent is sized as a share of what its instrument traded
over the interval before it (``BUCKETS``: 0.1%, 1%, 5%, 20%), and worked four ways in
backtests under each honest fill model (``core.fills``):

- ``market``: one market order of the whole size;
- ``twap`` / ``vwap``: ``horizon`` seconds, a market child every ``interval`` seconds (VWAP's
  shares from the previous days' volume profile; flat on the real sample, which has none);
- ``iceberg``: a tenth shown at a time at the arrival price (a fixed limit).

Implementation shortfall of a parent, in bps: ``sign * (average fill - arrival) / arrival``
(sign +1 to buy, -1 to sell; arrival = the last trade when the parent was submitted), over
what filled; positive is a cost. ``filled`` is the share of the parents' quantity that filled.

Two sources:

- ``demo``: generated data (3 days, the last traded), 32 parents 40 minutes apart (BTC and
  ETH, each bucket, a BUY and a SELL, twice), the interval 600 s, one backtest per way and
  model;
- ``real``: Binance's recorded BTCUSDT trades (46 s, ``../shared/data/real``), 8 parents at
  12 s (each bucket, BUY and SELL), the interval 10 s, one backtest per parent, way and model.

Usage: ``uv run python bench/bench_exec_algos.py [--source demo|real|both] [--trades 120000]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nautilus_trader.model.enums import OrderSide  # noqa: E402

from core.backtest.algo_trial import ParentSpec, Trial, run_trial  # noqa: E402
from core.config import RiskConfig, VenueConfig  # noqa: E402
from core.data.binance_sample import SAMPLE_DAY, SAMPLE_FILE, write_sample  # noqa: E402
from core.data.demo_data import generate_demo_data  # noqa: E402
from core.data.ticks import TickReader  # noqa: E402

BUCKETS = (0.001, 0.01, 0.05, 0.20)
"""Parent size as a share of the instrument's volume over the interval before it."""
MODELS = ("trades_after_arrival", "trades_then_sqrt_impact")
WAYS = ("market", "twap", "vwap", "iceberg")
FIRST_DAY = dt.date(2026, 1, 5)
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
SECOND = 1_000_000_000
SPACING_MIN = 40  # between parents on the demo day: each is done before the next comes
LOTS = {BTC: 1e-5, ETH: 1e-4}
REAL_DATA = ROOT.parent / "shared" / "data" / "real" / SAMPLE_FILE
# Room to trade any bucket: balances in every currency (a cash account sells what it holds)
# and risk limits far above the parents (the pre-trade checks are not what is measured).
VENUE = VenueConfig(starting_balances=("100000000 USDT", "1000 BTC", "20000 ETH"))
RISK = msgspec.structs.replace(
    RiskConfig(),
    max_order_notional=1e12,
    max_position_notional=1e12,
    max_strategy_notional=1e12,
    max_global_notional=1e12,
    max_gross_exposure=1e6,
    max_net_exposure=1e6,
)


@dataclass(frozen=True)
class Outcome:
    """One parent worked one way: its bucket, shortfall (bps, NaN if nothing filled), share
    filled and notional at arrival."""

    bucket: float
    shortfall_bps: float
    filled: float
    notional: float


def _volume_before(reader: TickReader, instrument: str, at_ns: int, interval_ns: int) -> float:
    start = dt.datetime.fromtimestamp((at_ns - interval_ns) / 1e9, dt.UTC)
    end = dt.datetime.fromtimestamp(at_ns / 1e9, dt.UTC)
    return float(pl.from_arrow(reader.read_window(instrument, start, end))["size"].sum())


def _sized(
    reader: TickReader, instrument: str, at_ns: int, interval_ns: int, share: float
) -> float:
    lot = LOTS.get(instrument, 1e-6)
    volume = _volume_before(reader, instrument, at_ns, interval_ns)
    return max(round(share * volume / lot), 1) * lot


def _params(way: str, horizon: float, interval: float) -> tuple[str | None, dict[str, Any]]:
    timing = {"horizon_secs": horizon, "interval_secs": interval}
    return {
        "market": (None, {}),
        "twap": ("TWAP", timing),
        "vwap": ("VWAP", timing),
        "iceberg": ("ICEBERG", {"display_fraction": 0.1}),
    }[way]


def _outcomes(
    trial: Trial, parents: Sequence[ParentSpec], buckets: Sequence[float]
) -> list[Outcome]:
    """Each parent's outcome, in submission order (``buckets`` gives each parent's bucket).

    The size is the parent's as submitted: Nautilus resizes a primary sent as the last slice."""
    cache = trial.engine.cache
    rows = []
    arrivals = trial.strategy.arrivals.items()
    for (parent_id, arrival), spec, bucket in zip(arrivals, parents, buckets, strict=True):
        orders = [
            o
            for o in cache.orders()
            if o.client_order_id.value == parent_id
            or (o.exec_spawn_id is not None and o.exec_spawn_id.value == parent_id)
        ]
        parent = next(o for o in orders if o.client_order_id.value == parent_id)
        filled = [o for o in orders if o.filled_qty.as_double() > 0]
        qty = sum(o.filled_qty.as_double() for o in filled)
        size = spec.quantity
        notional = size * (arrival or 0.0)
        if qty == 0 or not arrival:
            rows.append(Outcome(bucket, float("nan"), 0.0, notional))
            continue
        average = sum(o.filled_qty.as_double() * o.avg_px for o in filled) / qty
        sign = 1.0 if parent.side == OrderSide.BUY else -1.0
        shortfall = sign * (average - arrival) / arrival * 10_000
        rows.append(Outcome(bucket, shortfall, min(qty / size, 1.0), notional))
    return rows


def _trial(
    root: str,
    instruments: list[str],
    start: dt.datetime,
    end: dt.datetime,
    parents: list[ParentSpec],
    folder: Path,
    model: str,
    profiles: dict[str, tuple[float, ...]] | None = None,
) -> Trial:
    venue = msgspec.structs.replace(VENUE, fill_model=model)
    return run_trial(
        root, instruments, start, end, parents, folder, venue=venue, risk=RISK, profiles=profiles
    )


def demo(folder: Path, trades: int, horizon: float, interval: float, repeats: int) -> dict:
    root = str(folder / "demo")
    generate_demo_data(root, days=3, first_day=FIRST_DAY, trades_per_day={BTC: trades, ETH: trades})
    day = FIRST_DAY + dt.timedelta(days=2)
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    reader = TickReader(root)
    horizon_ns = round(horizon * SECOND)
    specs: list[tuple[str, str, float, int, float]] = []  # instrument, side, bucket, at, qty
    for _ in range(repeats):
        for instrument in (BTC, ETH):
            for bucket in BUCKETS:
                for side in ("BUY", "SELL"):
                    moment = start + dt.timedelta(minutes=30 + SPACING_MIN * len(specs))
                    at = int(moment.timestamp()) * SECOND
                    qty = _sized(reader, instrument, at, horizon_ns, bucket)
                    specs.append((instrument, side, bucket, at, qty))
    end = start + dt.timedelta(minutes=30 + SPACING_MIN * len(specs) + 90)
    results: dict = {}
    for model in MODELS:
        for way in WAYS:
            algorithm, params = _params(way, horizon, interval)
            parents = [ParentSpec(i, s, q, at, algorithm, dict(params)) for i, s, _, at, q in specs]
            began = time.perf_counter()
            trial = _trial(root, [BTC, ETH], start, end, parents, folder / f"{model}-{way}", model)
            try:
                results[(model, way)] = _outcomes(trial, parents, [b for _, _, b, _, _ in specs])
            finally:
                trial.dispose()
            print(f"  demo {model:<24} {way:<8} {time.perf_counter() - began:5.1f} s")
    return results


def real(folder: Path, horizon: float, interval: float) -> dict:
    root = folder / "real"
    write_sample(REAL_DATA, root)
    start = dt.datetime.combine(SAMPLE_DAY, dt.time(), dt.UTC)
    end = start + dt.timedelta(seconds=47)
    at = int(start.timestamp()) * SECOND + 12 * SECOND
    reader = TickReader(str(root))
    flat = {BTC: tuple([1 / 288] * 288)}
    results: dict = {}
    for model in MODELS:
        for way in WAYS:
            algorithm, params = _params(way, horizon, interval)
            rows: list[Outcome] = []
            began = time.perf_counter()
            for bucket in BUCKETS:
                qty = _sized(reader, BTC, at, round(10 * SECOND), bucket)
                for side in ("BUY", "SELL"):
                    parent = ParentSpec(BTC, side, qty, at, algorithm, dict(params))
                    scratch = folder / f"real-{model}-{way}-{bucket}-{side}"
                    trial = _trial(str(root), [BTC], start, end, [parent], scratch, model, flat)
                    try:
                        rows += _outcomes(trial, [parent], [bucket])
                    finally:
                        trial.dispose()
            results[(model, way)] = rows
            print(f"  real {model:<24} {way:<8} {time.perf_counter() - began:5.1f} s")
    return results


def table(title: str, results: dict) -> None:
    print()
    print(title)
    for model in MODELS:
        count = len(results[(model, "market")]) // len(BUCKETS)
        print(f"fill model {model}: shortfall bps (+ = cost), mean of {count} parents [filled %]")
        print(f"{'bucket':<8}{'notional':>14}" + "".join(f"{way:>18}" for way in WAYS))
        for bucket in BUCKETS:
            notional = statistics.fmean(
                o.notional for o in results[(model, "market")] if o.bucket == bucket
            )
            cells = ""
            for way in WAYS:
                rows = [o for o in results[(model, way)] if o.bucket == bucket]
                costs = [o.shortfall_bps for o in rows if o.shortfall_bps == o.shortfall_bps]
                mean = statistics.fmean(costs) if costs else float("nan")
                filled = statistics.fmean(o.filled for o in rows) * 100
                cells += f"{mean:>10.2f} [{filled:>3.0f}%]"
            print(f"{bucket * 100:>6g}% {notional:>14,.0f}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("demo", "real", "both"), default="both")
    parser.add_argument("--trades", type=int, default=120_000, help="demo trades a day")
    parser.add_argument("--repeats", type=int, default=2, help="demo parents per bucket/side")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-exec-"))
    if args.source in ("demo", "both"):
        results = demo(folder, args.trades, 600.0, 60.0, args.repeats)
        table("demo data, interval 600 s; TWAP/VWAP horizon 600 s, a child every 60 s", results)
    if args.source in ("real", "both"):
        if not REAL_DATA.exists():
            print(f"real data absent ({REAL_DATA}): skipped")
            return
        results = real(folder, horizon=20.0, interval=2.0)
        table("Binance BTCUSDT 2021-01-08, interval 10 s; horizon 20 s, a child every 2 s", results)


if __name__ == "__main__":
    main()
