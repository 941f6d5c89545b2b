"""The dashboard with the node embedded: it starts on the app's loop, trades a target file into
the panes, and stops cleanly when the operator quits (the loop keeps running)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from console_seed import column, wait_for
from node_helpers import BTC, ETH, node_config, write_targets

from console.app import TradeConsoleApp
from console.widgets.orders_pane import OrdersPane
from core.oms import OmsStore


async def test_console_runs_the_shadow_node_and_stops_it_on_quit(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with await OmsStore.open(config.oms.database) as store:
        app = TradeConsoleApp(config, store=store, node_mode="shadow")
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.node is not None, timeout=5)
            await wait_for(
                pilot,
                lambda: app.health is not None and app.health.node_state == "RUNNING",
                timeout=10,
            )
            assert app.health is not None and app.health.mode == "SHADOW"
            header = " ".join(
                str(label.render()) for label in app.screen.query("StatusHeader Label")
            )
            assert "SHADOW" in header and "RUNNING" in header

            write_targets(config, {BTC: 0.4, ETH: 0.3})
            assert app.dashboard is not None
            pane = app.dashboard.query_one(OrdersPane)
            await wait_for(
                pilot,
                lambda: (
                    {BTC, ETH} <= set(column(pane.table, "instrument"))
                    and "FILLED" in column(pane.table, "status")
                ),
                timeout=10,
            )
            node = app.node
            await pilot.press("q")
            await wait_for(pilot, lambda: app.node is None, timeout=5)
            assert node is not None and node.engine.state().node_state == "STOPPED"
        status = await store.node_status()
        assert status is not None and status.node_state == "STOPPED"
    assert asyncio.get_running_loop().is_running()
