"""Binance's recorded BTCUSDT trades (the shared real-data sample) in the desk's layout.

The tests and the fill benchmark replay the same real trades; this lays them out under a data
root as the desk's own files (trades and the instrument's spec for their day), so a backtest
reads them like any desk data.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.data.layout import INSTRUMENT_SCHEMA, TRADE_SCHEMA, instruments_path, trades_path

SAMPLE_FILE = "binance_btcusdt_trades_2021-01-08.parquet"
"""The sample's file name in the shared real-data folder."""
SAMPLE_DAY = dt.date(2021, 1, 8)
INSTRUMENT_ID = "BTCUSDT.BINANCE"
SPEC = {
    "instrument_id": INSTRUMENT_ID,
    "venue": "BINANCE",
    "symbol": "BTCUSDT",
    "kind": "spot",
    "base": "BTC",
    "quote": "USDT",
    "settlement": "USDT",
    "tick_size": 0.01,
    "lot_size": 0.000001,
    "price_precision": 2,
    "size_precision": 6,
    "min_quantity": 0.000001,
    "max_quantity": None,
    "min_notional": 0.0,  # none in the recorded spec
    "maker_fee": 0.001,
    "taker_fee": 0.001,
    "multiplier": 1.0,
    "is_inverse": False,
}
"""Binance's BTCUSDT spot as recorded beside the trades (binance_btcusdt_instrument.txt)."""


def sample_trades(source: Path) -> pa.Table:
    """The recorded trades in the desk's schema (``buyer_maker`` True: the seller aggressed)."""
    raw = pq.read_table(source)
    ts = raw["timestamp"].cast(pa.int64()).to_numpy() * 1_000_000  # ms -> ns
    sells = np.asarray(raw["buyer_maker"].to_pylist()) == "True"
    return pa.table(
        {
            "ts_event": pa.array(ts, pa.int64()),
            "price": raw["price"],
            "size": raw["quantity"],
            "side": pa.array(np.where(sells, "SELL", "BUY")).cast(pa.string()),
            "trade_id": raw["trade_id"].cast(pa.string()),
        },
        schema=TRADE_SCHEMA,
    )


def write_sample(source: Path, root: Path) -> pa.Table:
    """Lay the sample's trades and spec out under ``root``; returns the trades."""
    trades = sample_trades(source)
    for path, table in (
        (trades_path(str(root), SAMPLE_DAY, INSTRUMENT_ID), trades),
        (instruments_path(str(root), SAMPLE_DAY), pa.Table.from_pylist([SPEC], INSTRUMENT_SCHEMA)),
    ):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    return trades
