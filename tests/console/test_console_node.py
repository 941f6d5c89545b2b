"""The dashboard with the node embedded: it starts on the app's loop, trades a target file into
the panes, stops cleanly when the operator quits (the loop keeps running), and after a flatten
restores the targets it replaced from the kill switch."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from console_seed import column, config_for, wait_for
from node_helpers import BTC, ETH, node_config, write_targets
from textual.widgets import Static

from console.app import TradeConsoleApp
from console.cli import EXIT_BAD_INPUT
from console.screens.kill_switch import KillSwitchScreen
from console.screens.quit import QuitScreen
from console.widgets.orders_pane import OrdersPane
from core.live.lease import NodeLease
from core.oms import NodeStatus, OmsStore

# The console runs a node on its loop: keys wait for the screen, not for an idle process.
pytestmark = pytest.mark.usefixtures("pilot_beside_a_node")


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
            await pilot.press("q")  # asks: stop, detach or stay
            await pilot.press("s")
            await wait_for(pilot, lambda: app.node is None, timeout=5)
            assert node is not None and node.engine.state().node_state == "STOPPED"
        status = await store.node_status()
        assert status is not None and status.node_state == "STOPPED"
    assert asyncio.get_running_loop().is_running()


async def test_quit_with_a_node_inside_asks_and_detach_leaves_the_node_trading(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with await OmsStore.open(config.oms.database) as store:
        app = TradeConsoleApp(config, store=store, node_mode="shadow")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(
                pilot,
                lambda: app.health is not None and app.health.node_state == "RUNNING",
                timeout=15,
            )
            node = app.node
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
            question = str(app.screen.query_one("#question", Static).render())
            assert "SHADOW node" in question
            await pilot.press("escape")  # stay: nothing changes
            await pilot.pause(0.2)
            assert app.is_running and app.node is node and not isinstance(app.screen, QuitScreen)
            await pilot.press("ctrl+p")  # palette, then Enter by habit: never a quit
            await pilot.pause(0.3)
            await pilot.press("enter")
            await pilot.pause(0.3)
            assert app.is_running and app.node is node
            await pilot.press("escape")
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
            await pilot.press("d")
            await wait_for(pilot, lambda: not app.is_running)
        try:
            assert app.detached is not None and app.detached.session is node
            assert node is not None and node.engine.state().node_state == "RUNNING"
            assert not app.detached.terminal_gone
            write_targets(config, {BTC: 0.4, ETH: 0.3})  # the detached node still trades
            deadline = asyncio.get_running_loop().time() + 20
            while {o.instrument_id for o in await store.orders()} < {BTC, ETH}:
                assert asyncio.get_running_loop().time() < deadline, "no orders after detach"
                await asyncio.sleep(0.2)
        finally:
            await node.stop()
        status = await store.node_status()
        assert status is not None and status.node_state == "STOPPED"


async def test_console_beside_a_node_holding_the_oms_says_so_and_stays_a_viewer(
    tmp_path: Path,
) -> None:
    # Another node holds the OMS (here this process's lease: flock locks belong to an open
    # file, so the console's node meets it as it would another process's) and beats.
    config = config_for(tmp_path / "oms.sqlite")
    async with await OmsStore.open(config.oms.database) as store:
        other = await NodeLease.acquire(store)
        beat = NodeStatus(
            ts_event=time.time_ns(),
            mode="SHADOW",
            venues=("BINANCE",),
            node_state="RUNNING",
            trading_state="ACTIVE",
            data_feed="OK",
            venue_connection="OK",
            equity=100_000.0,
        )
        store.submit(beat)
        await store.flush()
        try:
            app = TradeConsoleApp(config, store=store, node_mode="shadow")
            async with app.run_test(size=(160, 48)) as pilot:

                def errors() -> list[str]:
                    return [n.message for n in app._notifications if n.severity == "error"]

                await wait_for(pilot, lambda: errors(), timeout=20)
                assert app.node is None
                assert errors() == [app.node_refused]
                assert "\n" not in errors()[0]
                assert f": held by node pid {os.getpid()} on " in errors()[0]
                # Still a console over the OMS: it shows the holder's node from its heartbeat.
                await wait_for(
                    pilot, lambda: app.health is not None and app.health.node_state == "RUNNING"
                )
                await pilot.press("q")
            assert app.return_code == EXIT_BAD_INPUT
            assert await store.node_holder() == other.holder
            assert await store.node_status() == beat  # not a heartbeat of the refused node
        finally:
            await other.release()


async def test_after_a_flatten_t_re_arms_and_restores_the_targets_in_force_before_it(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root, replay_speed=30.0)
    async with await OmsStore.open(config.oms.database) as store:
        app = TradeConsoleApp(config, store=store, node_mode="shadow")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(
                pilot,
                lambda: app.node is not None and app.node.engine.state().node_state == "RUNNING",
                timeout=10,
            )
            node = app.node
            assert node is not None
            write_targets(config, {BTC: 0.4, ETH: 0.3})
            # Orders fill from the trades replayed after them (30x): allow for a loaded machine.
            await wait_for(pilot, lambda: settled(node, 2), timeout=40)

            await pilot.press("k", "f", "y")  # flatten, with the default reason
            await wait_for(pilot, lambda: node.trading_state == "HALTED", timeout=15)
            await wait_for(pilot, lambda: settled(node, 4), timeout=40)
            await store.flush()
            [flattened, research] = await store.targets_history()
            assert (flattened.source, flattened.weights) == ("flatten", {BTC: 0.0, ETH: 0.0})

            # The dialog offers a re-arm from the state the console last read (its health
            # poll), which may still say ACTIVE just after the node halted.
            await wait_for(
                pilot, lambda: app.health is not None and app.health.trading_state == "HALTED"
            )
            await pilot.press("k", "a")
            screen = app.screen
            assert isinstance(screen, KillSwitchScreen)
            await wait_for(pilot, lambda: screen.restorable == research)
            details = str(screen.query_one("#details", Static).render())
            assert "Targets in force are 0% since the flatten" in details
            assert "BTCUSDT.BINANCE 40.0%, ETHUSDT.BINANCE 30.0%" in details
            assert "t re-arms and restores them." in details
            before = len(node.strategy.cache.orders())
            await pilot.press("tab", "o", "k", "enter", "t")
            await wait_for(pilot, lambda: node.trading_state == "ACTIVE", timeout=5)
            await wait_for(pilot, lambda: settled(node, before + 2), timeout=40)
            await store.flush()
            restored = (await store.targets_history())[0]
            assert (restored.source, restored.weights) == ("restore", {BTC: 0.4, ETH: 0.3})
            bought = {
                (str(o.instrument_id), o.side_string(), o.status_string())
                for o in node.strategy.cache.orders()[before:]
            }
            assert bought == {(BTC, "BUY", "FILLED"), (ETH, "BUY", "FILLED")}
            actions = [(e.action, e.reason) for e in await store.audit()]
            assert actions[:2] == [("restore_targets", "ok"), ("rearm", "ok")]
            await app.stop_node()


def settled(node, count: int) -> bool:
    """``count`` orders or more decided, and every one closed."""
    orders = node.strategy.cache.orders()
    return len(orders) >= count and all(order.is_closed for order in orders)
