"""The manual rebalance: the preview's orders are the orders sent; a selection sends only its
rows; an edited weight changes the preview; nothing is sent while HALTED."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
from console_seed import wait_for
from node_helpers import BTC, ETH, node_config, write_targets
from textual.widgets import DataTable, Static

from console.app import TradeConsoleApp
from console.screens.rebalance_preview import RebalancePreviewScreen
from core.config import AppConfig
from core.oms import OmsStore
from core.oms.events import TradingStateRecord

SIZE = (140, 40)


@asynccontextmanager
async def console_with_node(config: AppConfig) -> AsyncIterator[tuple]:
    """The dashboard with a running shadow node priced in every instrument; stopped after."""
    async with await OmsStore.open(config.oms.database) as store:
        app = TradeConsoleApp(config, store=store, node_mode="shadow")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: app.node is not None and app.node.engine.state().node_state == "RUNNING",
                timeout=10,
            )
            node = app.node
            assert node is not None
            strategy = node.strategy
            await wait_for(
                pilot,
                lambda: all(
                    strategy._price(strategy.cache.instrument(i)) for i in strategy._instrument_ids
                ),
                timeout=10,
            )
            try:
                yield app, pilot, node, store
            finally:
                await app.stop_node()


async def test_previewed_orders_are_exactly_the_orders_sent(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root, risk={"require_preview": "always"})
    async with console_with_node(config) as (app, pilot, node, store):
        write_targets(config, {BTC: 0.4, ETH: 0.3})
        await wait_for(pilot, lambda: node.pending is not None, timeout=5)
        assert await store.orders() == []  # held back for the preview
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RebalancePreviewScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 2
        previewed = {(p.line.instrument_id, p.line.side, p.line.quantity) for p in screen.lines}
        assert all(side == "BUY" for _, side, _ in previewed)
        await pilot.press("a")
        assert "Send 2 orders" in str(screen.query_one("#ask", Static).render())
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is app.dashboard, timeout=3)
        await store.flush()
        await wait_for(pilot, lambda: len(node.strategy.cache.orders()) == 2, timeout=5)
        await store.flush()
        sent = {(o.instrument_id, o.side, o.quantity) for o in await store.orders()}
        assert sent == previewed
        audit = await store.audit(limit=10)
        assert any(entry.action == "rebalance" for entry in audit)
        assert node.pending is None


async def test_a_selection_sends_only_its_rows_and_an_edit_changes_the_target(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with console_with_node(config) as (app, pilot, node, _):
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RebalancePreviewScreen)
        assert all(p.line.side is None for p in screen.lines)  # no targets yet: no orders
        # Give ETH (the second row) a 20% target on the screen, select it, send it.
        await pilot.press("down", "e")
        field = screen.query_one("#weight")
        field.value = "20%"
        await pilot.press("enter")
        eth = next(p for p in screen.lines if p.line.instrument_id == ETH)
        assert eth.line.target_weight == 0.2 and eth.line.side == "BUY"
        await pilot.press("space", "s")
        # Selecting recomputed the preview at the prices of now: what is asked is what goes.
        (eth,) = screen.asked
        assert eth.line.instrument_id == ETH
        await pilot.press("y")
        await wait_for(pilot, lambda: len(node.strategy.cache.orders()) == 1, timeout=5)
        (order,) = node.strategy.cache.orders()
        assert str(order.instrument_id) == ETH
        assert order.quantity.as_double() == eth.line.quantity


async def test_a_rebalance_asked_for_while_halted_is_refused_with_the_reason(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with console_with_node(config) as (app, pilot, node, store):
        store.submit(
            TradingStateRecord(ts_event=time.time_ns(), state="HALTED", actor="op", reason="test")
        )
        await wait_for(pilot, lambda: node.trading_state == "HALTED", timeout=3)
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RebalancePreviewScreen)
        await pilot.press("e")
        screen.query_one("#weight").value = "0.3"
        await pilot.press("enter", "a", "y")
        assert "HALTED" in str(screen.query_one("#ask", Static).render())
        assert node.strategy.cache.orders() == []


async def test_a_line_an_algorithm_works_is_previewed_as_it_will_be_sent(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    # Orders of ~40,000 against a 5,000 order cap: a TWAP parent is checked for the position
    # it leads to and its children (4,000 each) against the cap; the preview must agree.
    base = node_config(
        config_writer,
        tmp_path,
        demo_root,
        risk={"max_order_notional": 5_000.0, "require_preview": "always"},
    )
    execution = msgspec.structs.replace(base.execution, algorithm="twap")
    config = msgspec.structs.replace(base, execution=execution)
    async with console_with_node(config) as (_app, _pilot, node, _store):
        strategy = node.strategy
        previews = [p for p in strategy.preview({BTC: 0.4, ETH: 0.3}) if p.line.side]
        assert len(previews) == 2
        assert all(p.allowed and p.line.notional > 5_000 for p in previews), previews
        line = previews[0].line
        now = strategy.clock.timestamp_ns()
        whole = strategy.intent(line.instrument_id, line.side or "", line.quantity, line.price, now)
        verdict = strategy.risk.check(whole, strategy.risk_view(), strategy.trading_state)
        assert verdict.reason is not None and verdict.reason.startswith("order_max_notional")
