"""Parity: the same target sequence through the backtest and through SHADOW on the REPLAY of the
same ticks gives the same orders and the same fill prices.

The backtest applies the demo signals as its schedule. The shadow node replays the same window
flat out and applies each signal's weights when the replay reaches the signal's recorded time
(``ReplayDataClient.at_recorded_time``: every trade up to it is in the cache, none after). Both
venues have zero latency: flat out, a replay has no fixed recorded-to-live ratio to turn 20 ms
of recorded time into, so latency is the one thing the two cannot share (README: Parity).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import msgspec
import pyarrow.parquet as pq

from core.backtest import run_backtest
from core.backtest_inputs import prepare_inputs
from core.config import AppConfig, load_config
from core.node_session import NodeSession
from core.oms import OmsStore

WINDOW = ("2026-01-05T00:00:00Z", "2026-01-05T12:00:00Z")
PRICE_TOLERANCE = 1e-9
"""Relative divergence allowed between the two fill VWAPs of an order (measured: 0)."""
QUANTITY_TOLERANCE = 1e-9


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


async def test_shadow_on_replay_matches_the_backtest_orders_and_fill_prices(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = parity_config(config_writer, tmp_path, demo_root)
    backtest = backtest_orders(config)
    shadow_config = msgspec.structs.replace(
        config, oms=msgspec.structs.replace(config.oms, database=str(tmp_path / "shadow.sqlite"))
    )
    shadow = await shadow_orders(shadow_config)
    assert len(backtest) >= 4, "the window must hold several rebalances"
    assert shadow.keys() == backtest.keys()
    divergence = 0.0
    for key, (side, quantity, vwap) in backtest.items():
        shadow_side, shadow_quantity, shadow_vwap = shadow[key]
        assert shadow_side == side, key
        assert abs(shadow_quantity - quantity) <= QUANTITY_TOLERANCE * quantity, key
        divergence = max(divergence, abs(shadow_vwap - vwap) / vwap)
    assert divergence <= PRICE_TOLERANCE, f"fill prices diverge by {divergence:.2e}"
