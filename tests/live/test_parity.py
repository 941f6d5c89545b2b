"""Parity: the same target sequence through the backtest and through SHADOW on the REPLAY of the
same ticks gives the same orders and the same fill prices.

The backtest applies the demo signals as its schedule. The shadow node replays the same window
flat out and applies each signal's weights when the replay reaches the signal's recorded time
(``ReplayDataClient.at_recorded_time``: every trade up to it is in the cache, none after). Both
venues have zero latency: flat out, a replay has no fixed recorded-to-live ratio to turn 20 ms
of recorded time into, so latency is the one thing the two cannot share (README: Parity).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from run_helpers import backtest_orders, parity_config, shadow_orders

PRICE_TOLERANCE = 1e-9
"""Relative divergence allowed between the two fill VWAPs of an order (measured: 0)."""
QUANTITY_TOLERANCE = 1e-9


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
