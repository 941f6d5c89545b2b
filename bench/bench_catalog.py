"""How fast trade ticks get into (and out of) a Nautilus catalog: our writer vs ``write_data``.

Prints figures only; nothing here asserts a time. Run from the repository root::

    .venv/bin/python bench/bench_catalog.py [--ticks 200000] [--official-ticks 20000]

The official path is measured on fewer ticks because it builds one Python ``TradeTick`` per
row; its rate is what matters, and it does not improve with size.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pyarrow as pa
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity

from core.backtest.catalog import open_catalog, write_trade_ticks
from core.data.instrument_specs import InstrumentSpec
from core.data.layout import TRADE_SCHEMA
from core.data.nautilus_instruments import to_nautilus_instrument

START_NS = 1_767_225_600_000_000_000  # 2026-01-01 UTC

SPEC = InstrumentSpec(
    instrument_id="BTCUSDT.BINANCE",
    venue="BINANCE",
    symbol="BTCUSDT",
    kind="spot",
    base="BTC",
    quote="USDT",
    settlement="USDT",
    tick_size=0.01,
    lot_size=0.000001,
    price_precision=2,
    size_precision=6,
    min_quantity=0.000001,
    max_quantity=None,
    min_notional=5.0,
    maker_fee=0.001,
    taker_fee=0.001,
    multiplier=1.0,
    is_inverse=False,
)


def synthetic_trades(n: int, seed: int = 1) -> pa.Table:
    """A day-like stream of trades: random-walk prices off the tick grid, log-normal sizes."""
    rng = np.random.default_rng(seed)
    ts = START_NS + np.cumsum(rng.integers(0, 2 * 86_400_000_000_000 // max(n, 1), n))
    price = 94_000.0 * np.exp(np.cumsum(rng.normal(0, 2e-5, n)))
    size = np.maximum(np.round(rng.lognormal(-6, 1.5, n), 6), 0.000001)
    side = np.where(rng.random(n) < 0.5, "BUY", "SELL")
    trade_id = np.char.mod("%d", np.arange(5_000_000_000, 5_000_000_000 + n))
    return pa.table(
        {"ts_event": ts, "price": price, "size": size, "side": side, "trade_id": trade_id},
        schema=TRADE_SCHEMA,
    )


def to_ticks(instrument: Instrument, table: pa.Table) -> list[TradeTick]:
    sides = {"BUY": AggressorSide.BUYER, "SELL": AggressorSide.SELLER}
    rows = zip(*(table.column(name).to_pylist() for name in TRADE_SCHEMA.names), strict=True)
    return [
        TradeTick(
            instrument.id,
            Price(price, instrument.price_precision),
            Quantity(size, instrument.size_precision),
            sides[side],
            TradeId(trade_id),
            ts,
            ts,
        )
        for ts, price, size, side, trade_id in rows
    ]


def rate(count: int, seconds: float) -> str:
    return f"{count:>9,} ticks {seconds:8.3f} s {count / seconds:>12,.0f} ticks/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--official-ticks", type=int, default=20_000)
    args = parser.parse_args()

    instrument = to_nautilus_instrument(SPEC)
    table = synthetic_trades(args.ticks)
    small = table.slice(0, args.official_ticks)

    with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as theirs_dir:
        ours = open_catalog(ours_dir)
        started = time.perf_counter()
        written = write_trade_ticks(ours, instrument, table)
        ours_seconds = time.perf_counter() - started

        theirs = open_catalog(theirs_dir)
        started = time.perf_counter()
        ticks = to_ticks(instrument, small)
        build_seconds = time.perf_counter() - started
        started = time.perf_counter()
        theirs.write_data(ticks)
        write_seconds = time.perf_counter() - started

        theirs.query(TradeTick)  # warm the Rust reader up before timing ours
        started = time.perf_counter()
        read = ours.query(TradeTick)
        query_seconds = time.perf_counter() - started

    official_seconds = build_seconds + write_seconds
    print(f"write_trade_ticks (ours)          {rate(written, ours_seconds)}")
    print(f"TradeTick objects from the table  {rate(len(ticks), build_seconds)}")
    print(f"catalog.write_data(list)          {rate(len(ticks), write_seconds)}")
    print(f"official total (objects + write)  {rate(len(ticks), official_seconds)}")
    print(f"catalog.query(TradeTick) read     {rate(len(read), query_seconds)}")
    speedup = (written / ours_seconds) / (len(ticks) / official_seconds)
    print(f"ours vs official total: {speedup:,.0f}x the ticks/s")


if __name__ == "__main__":
    main()
