"""Below 80x24 the console is not helpless: the too-small screen says the mode, node and trading
state, the kill switch opens from it and fits (down to 40x10), every other key is answered in
words, and a kill dialog open while the window shrinks keeps its keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from console_seed import (
    NOW,
    SECOND,
    config_for,
    desk_records,
    fixed_clock,
    heartbeat,
    position,
    wait_for,
)
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Label, Static

from console.app import TradeConsoleApp
from console.screens.kill_switch import KillSwitchScreen
from console.screens.too_small import TooSmallScreen
from core.oms import OmsStore
from core.risk.trading_state import operator_name

DOGE = "DOGEUSDT.BINANCE"
XRP = "XRPUSDT.BINANCE"
SMALL = (60, 20)
TINY = (40, 10)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[OmsStore]:
    """The seeded desk (two open positions) with a shadow node heartbeating."""
    store = await OmsStore.open(tmp_path / "oms.sqlite")
    store.submit_many([*desk_records(), heartbeat()])
    await store.flush()
    yield store
    await store.close()


def console(store: OmsStore) -> TradeConsoleApp:
    return TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)


def text(app: TradeConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def trading_line(app: TradeConsoleApp) -> str:
    return " ".join(str(label.render()) for label in app.screen.query("#trading-line Label"))


async def small_screen(pilot: Pilot) -> TooSmallScreen:
    """The too-small screen once it shows the first health reading."""
    app = pilot.app
    assert isinstance(app, TradeConsoleApp)
    await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen))
    await wait_for(pilot, lambda: "RUNNING" in trading_line(app))
    assert isinstance(app.screen, TooSmallScreen)
    return app.screen


def fits(screen: KillSwitchScreen, size: tuple[int, int]) -> None:
    """Every line of the dialog shows whole, above the footer, inside the terminal."""
    whole = Region(0, 0, *size)
    dialog = screen.query_one("#dialog").region
    assert whole.contains_region(dialog), (dialog, size)
    footer = screen.query_one("KeyFooter").region
    assert dialog.bottom <= footer.y
    for part in screen.query("#dialog Static, #dialog Input"):
        if part.display and part.region.area:
            assert dialog.contains_region(part.region), part


async def test_the_small_screen_shows_mode_node_and_trading_state_in_one_line(
    desk: OmsStore,
) -> None:
    now = [NOW]
    app = TradeConsoleApp(
        config_for(desk.path), store=desk, clock=lambda: now[0], health_interval=0.1
    )
    async with app.run_test(size=SMALL) as pilot:
        screen = await small_screen(pilot)
        assert trading_line(app) == "SHADOW node RUNNING trading ACTIVE"
        line = screen.query_one("#trading-line").region
        assert line.height == 1 and Region(0, 0, *SMALL).contains_region(line)
        assert screen.query_one("#mode", Label).has_class("-shadow")
        assert "Terminal too small: 60x20" in text(app, "#message")
        assert text(app, "#keys") == "Keys here: k kill, q quit."
        # A node gone silent, and one applying a kill, show here as in the header.
        now[0] += 60 * SECOND
        await wait_for(pilot, lambda: "NODE DOWN" in trading_line(app))
        assert screen.query_one("#node", Label).has_class("-down")
        desk.submit(msgspec.structs.replace(heartbeat(now[0]), trading_state="HALTED"))
        await desk.flush()
        await wait_for(pilot, lambda: "trading HALTED" in trading_line(app))
        assert screen.query_one("#trading", Label).has_class("-halted")


async def test_on_the_small_screen_k_opens_a_kill_dialog_that_fits_and_h_y_halts(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await small_screen(pilot)
        await pilot.press("k")
        dialog = app.screen
        assert isinstance(dialog, KillSwitchScreen) and dialog.compact
        fits(dialog, SMALL)
        assert text(app, "#prompt") == "Choose h, r or f · Esc cancels"
        await pilot.press("h")
        fits(dialog, SMALL)
        assert text(app, "#prompt") == "y to HALT · Esc cancels"
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen))
    record = await desk.trading_state()
    assert record is not None
    assert (record.state, record.reason, record.actor) == (
        "HALTED",
        "operator halt",
        operator_name(),
    )


async def test_at_40x10_the_flatten_dialog_fits_with_its_positions(desk: OmsStore) -> None:
    desk.submit_many([position(XRP, 5_000.0, 1.8, 0.0), position(DOGE, 1e4, 0.2, 0.0)])
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=TINY) as pilot:
        await small_screen(pilot)
        await pilot.press("k")
        dialog = app.screen
        assert isinstance(dialog, KillSwitchScreen)
        await wait_for(pilot, lambda: dialog._kill_context is not None)
        await pilot.press("f")
        assert text(app, "#details").splitlines() == [
            "Closes 4 positions, 94,700.00 USDT:",
            "BTCUSDT.BINANCE 0.75 70,500.00 USDT",
            "ETHUSDT.BINANCE -4 13,200.00 USDT",
            "XRPUSDT.BINANCE 5,000 9,000.00 USDT",
            "DOGEUSDT.BINANCE 2,000 USDT",
        ]
        fits(dialog, TINY)
        await pilot.press("x")  # a message line more: still fits, with positions fewer
        assert text(app, "#message") == "x does nothing here: y, Tab or Esc."
        assert text(app, "#details").splitlines()[1:] == [
            "BTCUSDT.BINANCE 0.75 70,500.00 USDT",
            "ETHUSDT.BINANCE -4 13,200.00 USDT",
            "  … and 2 more",
        ]
        fits(dialog, TINY)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen))
    record = await desk.trading_state()
    assert record is not None and (record.state, record.flatten) == ("HALTED", True)


async def test_a_key_that_does_nothing_on_the_small_screen_is_answered_in_words(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        screen = await small_screen(pilot)
        assert text(app, "#hint") == ""
        for key, name in (("r", "r"), ("y", "y"), ("enter", "enter")):
            await pilot.press(key)
            assert app.screen is screen
            assert text(app, "#hint") == (
                f"{name} does nothing here (terminal too small). Keys here: k kill, q quit."
            )
    assert await desk.trading_state() is None


async def test_q_on_the_small_screen_quits_through_the_app(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await small_screen(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_a_y_pressed_into_an_open_confirmation_after_a_resize_to_small_is_not_dropped(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.health is not None)
        await pilot.press("k", "h")
        dialog = app.screen
        assert isinstance(dialog, KillSwitchScreen) and not dialog.compact
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        assert app.screen is dialog and dialog.compact  # in front, still taking its keys
        fits(dialog, SMALL)
        await pilot.press("y")
        # Closed, the small terminal gets its notice.
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen))
    record = await desk.trading_state()
    assert record is not None and record.state == "HALTED"


async def test_a_dialog_opened_small_then_closed_large_goes_back_to_the_dashboard(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await small_screen(pilot)
        await pilot.press("k")
        dialog = app.screen
        assert isinstance(dialog, KillSwitchScreen)
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert app.screen is dialog and not dialog.compact
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.dashboard)
    assert await desk.trading_state() is None
