"""The manual rebalance: the preview's orders are the orders sent; a selection sends only its
rows; a weight is typed in percent, in a box naming its instrument, and checked by the target
file's rules before it reaches the preview (a refused one changes nothing, and never becomes the
targets in force); Escape in the box closes the box only; a send large against equity needs its
base currency typed; a denied line says so, in words, before anything is sent; nothing is sent
while HALTED."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
from console_seed import column, wait_for
from node_helpers import BTC, ETH, node_config, write_targets
from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, Static

from console.app import TradeConsoleApp
from console.screens.confirm_large import ConfirmLargeScreen
from console.screens.help import HelpScreen
from console.screens.rebalance_preview import RebalancePreviewScreen
from console.widgets.status_header import StatusHeader
from console.widgets.weight_edit import WeightEdit
from core.config import AppConfig
from core.errors import TradeConsoleError
from core.oms import OmsStore
from core.oms.events import TradingStateRecord

SIZE = (140, 40)

# The console runs a node on its loop: keys wait for the screen, not for an idle process.
pytestmark = pytest.mark.usefixtures("pilot_beside_a_node")


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


def text_of(node: DOMNode, selector: str) -> str:
    return str(node.query_one(selector, Static).render())


async def open_preview(app: TradeConsoleApp, pilot: Pilot) -> RebalancePreviewScreen:
    await pilot.press("r")
    screen = app.screen
    assert isinstance(screen, RebalancePreviewScreen)
    return screen


async def type_weight(pilot: Pilot, screen: RebalancePreviewScreen, row: int, text: str) -> None:
    """Edit the target of the ``row``-th instrument: ``e``, clear the box, type, Enter."""
    screen.query_one(DataTable).move_cursor(row=row)
    await pilot.press("e")
    screen.query_one("#weight", Input).value = ""
    await pilot.press(*text, "enter")


def target_of(screen: RebalancePreviewScreen, instrument_id: str) -> float:
    return next(p.line.target_weight for p in screen.lines if p.line.instrument_id == instrument_id)


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
        await pilot.press("a")
        assert "Send 2 orders" in str(screen.query_one("#ask", Static).render())
        # `a` priced the preview again: what it asks is what the table shows, and what goes.
        previewed = {(p.line.instrument_id, p.line.side, p.line.quantity) for p in screen.lines}
        assert previewed == {
            (p.line.instrument_id, p.line.side, p.line.quantity) for p in screen.asked
        }
        assert all(side == "BUY" for _, side, _ in previewed)
        await pilot.press("y")
        # 40% and 30% of equity: above the fat-finger guard's 20%, so BTC (the larger) is typed.
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmLargeScreen))
        await pilot.press(*"BTC", "enter")
        await wait_for(pilot, lambda: app.screen is app.dashboard, timeout=3)
        await store.flush()
        await wait_for(pilot, lambda: len(node.strategy.cache.orders()) == 2, timeout=5)
        await store.flush()
        sent = {(o.instrument_id, o.side, o.quantity) for o in await store.orders()}
        assert sent == previewed
        audit = await store.audit(limit=10)
        (entry,) = [entry for entry in audit if entry.action == "rebalance"]
        assert entry.details["confirmed"]["rule"] == "risk.confirm_above_pct_equity"
        assert node.pending is None
        # The file waited: what went in force is the preview's, recorded as such.
        [in_force] = await store.targets_history()
        assert (in_force.source, in_force.weights) == ("preview", {BTC: 0.4, ETH: 0.3})


async def test_a_selection_sends_only_its_rows_and_an_edit_changes_the_target(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with console_with_node(config) as (app, pilot, node, _):
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RebalancePreviewScreen)
        assert all(p.line.side is None for p in screen.lines)  # no targets yet: no orders
        # Give ETH (the second row) a 15% target on the screen, select it, send it.
        await type_weight(pilot, screen, 1, "15")
        eth = next(p for p in screen.lines if p.line.instrument_id == ETH)
        assert eth.line.target_weight == 0.15 and eth.line.side == "BUY"
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
        await type_weight(pilot, screen, 0, "30")
        await pilot.press("a", "y")
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


async def test_a_weight_is_typed_in_percent_in_a_box_that_names_its_instrument(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with console_with_node(config) as (app, pilot, _node, _store):
        screen = await open_preview(app, pilot)
        box = screen.query_one(WeightEdit)
        assert not box.display  # no box until e
        screen.query_one(DataTable).move_cursor(row=0)
        await pilot.press("e")
        assert box.display
        assert text_of(box, "#label") == f"Target weight of {BTC}:"
        assert text_of(box, "#unit") == "%"
        await pilot.press("backspace", *"25", "enter")  # the box starts at the target: 0
        assert target_of(screen, BTC) == 0.25
        assert column(screen.query_one(DataTable), "target")[0] == "25.0%"
        assert screen.edits == {BTC: 0.25} and not box.display


async def test_a_weight_the_target_file_rules_refuse_stays_at_the_field_and_changes_nothing(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with console_with_node(config) as (app, pilot, node, store):
        screen = await open_preview(app, pilot)
        await type_weight(pilot, screen, 1, "10")  # a good edit first: it must survive
        before = [(p.line.instrument_id, p.line.target_weight, p.line.side) for p in screen.lines]
        await type_weight(pilot, screen, 0, "2500")
        box = screen.query_one(WeightEdit)
        assert box.display and box.instrument_id == BTC  # still open, on BTC
        assert box.problem == (
            "2500% is outside [-100%, 100%] (watcher.min_weight, watcher.max_weight)"
        )
        assert box.query_one("#problem").size.height == 1
        assert screen.edits == {ETH: 0.1}
        assert [
            (p.line.instrument_id, p.line.target_weight, p.line.side) for p in screen.lines
        ] == (before)
        # The gross rule too: 95% more on top of ETH's 10% is 105% of equity.
        await pilot.press("ctrl+u", *"95", "enter")
        assert box.problem == "targets: gross exposure 105% is above watcher.max_gross 100%"
        await pilot.press("ctrl+u", *"abc", "enter")
        assert box.problem == "'abc' is not a percentage (type 25 for 25%)"
        assert screen.edits == {ETH: 0.1}

        # Nor can a refused value reach the targets in force through the node's own API.
        (line,) = [p for p in node.preview({BTC: 25.0}) if p.line.instrument_id == BTC]
        assert line.line.side == "BUY" and line.allowed  # the checks alone let it through
        with pytest.raises(TradeConsoleError, match=r"BTCUSDT.BINANCE: 2500% is outside"):
            node.send_preview([line], "op", "test", confirmation="BTC")
        assert BTC not in node.strategy.targets
        assert node.strategy.cache.orders() == []
        await store.flush()
        assert await store.orders() == []


async def test_escape_in_the_box_closes_the_box_only_and_keeps_the_other_edits(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with console_with_node(config) as (app, pilot, _node, _store):
        screen = await open_preview(app, pilot)
        await type_weight(pilot, screen, 1, "10")
        screen.query_one(DataTable).move_cursor(row=0)
        await pilot.press("e", *"5", "escape")
        assert app.screen is screen
        assert not screen.query_one(WeightEdit).display
        assert screen.edits == {ETH: 0.1}
        assert target_of(screen, ETH) == 0.1 and target_of(screen, BTC) == 0.0
        assert screen.query_one(DataTable).has_focus
        await pilot.press("escape")  # out of the box, Escape still goes back
        assert app.screen is app.dashboard


async def test_an_order_above_the_guard_is_sent_only_with_its_base_currency_typed(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root, replay_speed=10.0)  # as below
    async with console_with_node(config) as (app, pilot, node, store):
        screen = await open_preview(app, pilot)
        await type_weight(pilot, screen, 0, "30")  # a BUY of about 30% of equity: above 20%
        await pilot.press("a")
        assert "Then type BTC to confirm" in text_of(screen, "#ask")

        async def ask_again() -> ConfirmLargeScreen:
            await pilot.press("a", "y")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmLargeScreen))
            modal = app.screen
            assert isinstance(modal, ConfirmLargeScreen)
            return modal

        # The wrong word sends nothing.
        modal = await ask_again()
        question = text_of(modal, "#question")
        assert question.startswith("BUY 0.")
        assert f" {BTC}, notional " in question
        assert question.endswith(" USDT = 29.9% of equity; type BTC to send") or question.endswith(
            " USDT = 30.0% of equity; type BTC to send"
        )
        await pilot.press(*"ETH", "enter")
        await wait_for(pilot, lambda: app.screen is screen)
        assert text_of(screen, "#ask").startswith("Nothing sent: ")
        assert node.strategy.cache.orders() == []
        # Escape sends nothing.
        await ask_again()
        await pilot.press(*"BT", "escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert text_of(screen, "#ask") == "Nothing sent: the confirmation was cancelled."
        assert node.strategy.cache.orders() == []
        await store.flush()
        assert await store.orders() == []
        # The right word sends it.
        await ask_again()
        await pilot.press(*"BTC", "enter")
        await wait_for(pilot, lambda: app.screen is app.dashboard)
        (order,) = node.strategy.cache.orders()
        assert str(order.instrument_id) == BTC and node.strategy.targets[BTC] == 0.3


async def test_a_denied_line_says_so_in_words_before_y_and_is_not_sent(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    # A slow replay: the send is judged again at y, at the prices of then (a market order far
    # from the last price is denied), and this test takes a few keys from preview to send.
    config = node_config(
        config_writer,
        tmp_path,
        demo_root,
        risk={"max_position_notional": 5000.0},
        replay_speed=10.0,
    )
    async with console_with_node(config) as (app, pilot, node, store):
        screen = await open_preview(app, pilot)
        await type_weight(pilot, screen, 0, "10")  # about 10,000 in BTC: over 5,000
        await type_weight(pilot, screen, 1, "3")  # about 3,000 in ETH: passes
        verdicts = column(screen.query_one(DataTable), "verdict")
        assert verdicts[0].startswith(f"DENY position_notional: position in {BTC} after the order")
        denied = text_of(screen, "#denied")
        assert denied.startswith(
            f"Will not be sent, denied by the risk checks: {BTC} (position_notional: position in"
        )
        assert "[" not in denied and "'" not in denied
        await pilot.press("a")
        ask = text_of(screen, "#ask")
        assert ask.startswith(
            f"Nothing will be sent for {BTC} (position_notional): denied by the risk checks."
        )
        assert "Send 1 order, " in ask and "[" not in ask
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is app.dashboard)
        (order,) = node.strategy.cache.orders()
        assert str(order.instrument_id) == ETH
        assert BTC not in node.strategy.targets  # the denied line's target is not in force
        await store.flush()
        await wait_for(pilot, lambda: order.is_closed)
        await store.flush()
        assert [(o.instrument_id, o.status, o.reason) for o in await store.orders()] == [
            (ETH, "FILLED", None)
        ]
        # The node's own refusal names the instruments as text, not a Python list.
        (btc,) = [p for p in node.preview({BTC: 0.1}) if p.line.instrument_id == BTC]
        with pytest.raises(TradeConsoleError) as refused:
            node.send_preview([btc], "op", "test")
        message = str(refused.value)
        assert message.startswith(
            f"rebalance refused: denied by the risk checks: {BTC} (position_notional: "
        )
        assert "[" not in message and "'" not in message


async def test_the_preview_shows_the_trading_state_live_and_its_help_its_keys_and_node(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with console_with_node(config) as (app, pilot, _node, store):
        screen = await open_preview(app, pilot)
        trading = screen.query_one(StatusHeader).query_one("#trading", Label)
        await wait_for(pilot, lambda: str(trading.render()) == "trading ACTIVE")
        store.submit(
            TradingStateRecord(ts_event=time.time_ns(), state="HALTED", actor="op", reason="test")
        )
        await wait_for(
            pilot,
            lambda: (
                str(trading.render()).startswith("HALTED by op") and trading.has_class("-halted")
            ),
        )
        assert app.screen is screen
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert help_screen.intro.startswith("This console runs a SHADOW node in its own process")
        listed = {binding_id for _, _, binding_id in help_screen.keys}
        assert {"rebalance.send_all", "rebalance.edit", "rebalance.confirm"} <= listed
        await pilot.press("escape")
        assert app.screen is screen
