"""Result folders, compare screens and a shadow session for the runs and console tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from console_seed import config_for, fixed_clock
from textual.pilot import Pilot

from console.app import TradeConsoleApp
from core.backtest.inputs import prepare_inputs
from core.backtest.pipeline import run_backtest
from core.config import AppConfig, load_config
from core.data.results import (
    Metrics,
    Period,
    Pnl,
    ResultTables,
    Summary,
    write_results,
)
from core.live.session import NodeSession
from core.oms import OmsStore

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


MINUTE_NS = 60_000_000_000


def _ts(values: list[int]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(pl.Datetime("ns", "UTC"))


def write_run(
    root: str,
    run_id: str,
    *,
    net_pnl: float = 10.0,
    sharpe: float | None = 1.5,
    max_dd: float = 2.0,
    instruments: tuple[str, ...] = ("BTCUSDT.BINANCE",),
    fills: int = 20,
    orders: int = 25,
    points: int = 120,
    start: dt.datetime = START,
) -> str:
    """A completed run's five files, from small frames, through ``write_results``."""
    t0 = int(start.timestamp()) * 1_000_000_000
    times = [t0 + i * MINUTE_NS for i in range(points)]
    values = 10_000 + np.cumsum(np.sin(np.arange(points) / 7.0) * 5)
    peak = np.maximum.accumulate(values)
    equity = pl.DataFrame(
        {
            "ts_event": _ts(times),
            "portfolio_value": values,
            "cash_balance": values,
            "margin_used": 0.0,
            "unrealized_pnl": 0.0,
            "drawdown_pct": (peak - values) / peak * 100,
        }
    )
    fill_frame = pl.DataFrame(
        {
            "fill_id": [f"F{i}" for i in range(fills)],
            "order_id": [f"O{i}" for i in range(fills)],
            "instrument_key": instruments[0],
            "side": ["BUY" if i % 2 == 0 else "SELL" for i in range(fills)],
            "quantity": 0.01,
            "price": 90_000.0,
            "fee": 0.1,
            "fee_currency": "USDT",
            "ts_event": _ts([times[i % points] for i in range(fills)]),
            "venue": "BINANCE",
        }
    )
    order_frame = pl.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(orders)],
            "operation_id": "op-1",
            "instrument_key": instruments[0],
            "side": "BUY",
            "order_type": "MARKET",
            "quantity": 0.01,
            "filled_quantity": 0.01,
            "price": pl.Series([None] * orders, dtype=pl.Float64),
            "status": "FILLED",
            "created_at": _ts([times[0]] * orders),
            "updated_at": _ts([times[0]] * orders),
            "rejection_reason": pl.Series([None] * orders, dtype=pl.String),
        }
    )
    positions = pl.DataFrame(
        {
            "ts_event": _ts([times[0]]),
            "instrument_key": instruments[0],
            "quantity": 0.0,
            "avg_entry_price": pl.Series([None], dtype=pl.Float64),
            "current_price": 90_000.0,
            "unrealized_pnl": 0.0,
            "realized_pnl": 0.0,
        }
    )
    summary = Summary(
        run_id=run_id,
        status="COMPLETED",
        created_at=start,
        config={"backtest": {"instruments": list(instruments), "mode": "full"}},
        period=Period(start, start + dt.timedelta(hours=2)),
        pnl=Pnl(gross_pnl=net_pnl + 1.0, net_pnl=net_pnl, total_fees=1.0, funding_paid=0.0),
        metrics=Metrics(
            sharpe_ratio=sharpe,
            sortino_ratio=None,
            max_drawdown_pct=max_dd,
            win_rate=0.5,
            profit_factor=None,
            total_trades=3,
        ),
        execution_stats={
            "orders": orders,
            "fills": fills,
            "rejected": 0,
            "avg_slippage_bps": None,
            "ticks_processed": 1_000,
            "bytes_read": 10,
            "wall_seconds": 1.0,
            "ticks_per_second": 1_000.0,
        },
        starting_value=10_000.0,
        final_value=10_000.0 + net_pnl,
    )
    tables = ResultTables(order_frame, fill_frame, positions, equity)
    return write_results(root, run_id, tables, summary)


@contextlib.asynccontextmanager
async def console_80x24(database: Path | str) -> AsyncIterator[tuple[TradeConsoleApp, Pilot]]:
    """The console over the OMS at ``database``, at 80x24, to push a compare screen on."""
    store = await OmsStore.open(database)
    app = TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            yield app, pilot
    finally:
        await store.close()


WINDOW = ("2026-01-05T00:00:00Z", "2026-01-05T12:00:00Z")


def parity_config(config_writer, tmp_path: Path, demo_root: str) -> AppConfig:
    extra = (
        f'\n[node]\nreplay_speed = 0\nreplay_start = "{WINDOW[0]}"\nreplay_end = "{WINDOW[1]}"\n'
        f'heartbeat_secs = 0.5\n\n[drift]\nlog = "{tmp_path / "drift.log"}"\n'
        f'\n[watcher]\npath = "{tmp_path / "unused" / "target_weights.json"}"\n'
        # Velocity windows run on each side's clock: replayed flat out, 12 hours of rebalances
        # reach the node within a second of wall time, where the backtest sees them hours
        # apart. Every other pre-trade check stays on, on both sides.
        "\n[risk]\nmax_orders_per_second = 0\nmax_orders_per_second_total = 0\n"
        "max_orders_per_minute = 0\nmax_orders_per_minute_total = 0\n"
    )
    path = config_writer(
        tmp_path / "config.toml",
        data_root=demo_root,
        results_root=str(tmp_path / "results"),
        backtest={"start": WINDOW[0], "end": WINDOW[1], "targets": "signals"},
        venues=[{"name": "BINANCE", "latency_ms": 0.0}],
        oms={"record_backtests": False},
        extra=extra,
    )
    return load_config(path)


Key = tuple[str, str]
"""(operation id, instrument): one rebalance order."""


def backtest_orders(config: AppConfig) -> dict[Key, tuple[str, float, float]]:
    outcome = run_backtest(config)
    assert outcome.status == "COMPLETED", outcome.error
    orders = pq.read_table(Path(outcome.folder) / "orders.parquet").to_pylist()
    fills = pq.read_table(Path(outcome.folder) / "fills.parquet").to_pylist()
    return _by_operation(
        [(o["order_id"], o["operation_id"], o["instrument_key"], o["side"]) for o in orders],
        [(f["order_id"], f["quantity"], f["price"]) for f in fills],
    )


def _by_operation(
    orders: list[tuple[str, str, str, str]], fills: list[tuple[str, float, float]]
) -> dict[Key, tuple[str, float, float]]:
    filled: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for order_id, quantity, price in fills:
        filled[order_id].append((quantity, price))
    result: dict[Key, tuple[str, float, float]] = {}
    for order_id, operation_id, instrument, side in orders:
        quantity = sum(q for q, _ in filled[order_id])
        vwap = sum(q * p for q, p in filled[order_id]) / quantity if quantity else 0.0
        result[(operation_id, instrument)] = (side, quantity, vwap)
    return result


async def shadow_orders(config: AppConfig) -> dict[Key, tuple[str, float, float]]:
    schedule = prepare_inputs(config).schedule
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        replay = session.engine.replay
        assert replay is not None
        strategy = session.strategy

        async def rebalance(weights: dict[str, float], operation_id: str) -> None:
            # The replay waits while the orders travel through Nautilus's live queues (risk
            # engine, execution engine): flat out, it would otherwise hand over more trades
            # first, and the orders would meet a later market than the backtest's.
            strategy.apply_targets(weights, operation_id)
            cache = strategy.cache
            for _ in range(2_000):
                if all(order.is_closed for order in cache.orders()):
                    return
                await asyncio.sleep(0.001)

        for scheduled in schedule:
            replay.at_recorded_time(
                scheduled.ts_event,
                lambda s=scheduled: rebalance(dict(s.weights), s.operation_id),
            )
        state = await session.start()
        try:
            assert state.node_state == "RUNNING", state.detail
            await asyncio.wait_for(replay.done.wait(), timeout=60)
            await asyncio.sleep(0.2)
        finally:
            await session.stop()
        orders = await store.orders(limit=10_000)
        fills = await store.fills(limit=100_000)
    return _by_operation(
        [(o.client_order_id, o.operation_id or "", o.instrument_id, o.side) for o in orders],
        [(f.client_order_id, f.quantity, f.price) for f in fills],
    )
