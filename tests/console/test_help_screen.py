"""Help (``?``): the keys of the screen it was opened from, wrapped (never cut) at 80 columns,
and what this console is to the node, said truly."""

from __future__ import annotations

from console_seed import config_for, fixed_clock, wait_for
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from console.app import TradeConsoleApp
from console.screens.backtests import BacktestsScreen
from console.screens.help import HelpScreen, node_intro
from console.widgets.runs_pane import RunsPane
from core.oms import OmsStore

SMALL = (80, 24)


def help_lines(screen: HelpScreen) -> list[str]:
    """Every line help draws, scrolled or not, as the terminal shows it (trailing blanks off)."""
    lines: list[str] = []
    for static in screen.query_one("#help").query(Static):
        width, height = static.outer_size
        lines += [strip.text.rstrip() for strip in static.render_lines(Region(0, 0, width, height))]
    return lines


def words(text: str) -> str:
    return " ".join(text.split())


async def open_help(pilot: Pilot) -> tuple[Screen, HelpScreen]:
    """Press ``?`` on the current screen; the screen it was opened from, and help."""
    app = pilot.app
    before = app.screen
    await pilot.press("question_mark")
    assert isinstance(app.screen, HelpScreen)
    await pilot.pause()
    return before, app.screen


async def started(pilot: Pilot) -> TradeConsoleApp:
    app = pilot.app
    assert isinstance(app, TradeConsoleApp)
    await wait_for(pilot, lambda: app.dashboard is not None and app.health is not None)
    return app


async def test_help_lists_the_keys_of_the_screen_it_was_opened_from(desk: OmsStore) -> None:
    app = TradeConsoleApp(config_for(desk.path), store=desk, clock=fixed_clock)
    async with app.run_test(size=SMALL) as pilot:
        await started(pilot)
        _, on_dashboard = await open_help(pilot)
        dashboard_ids = {binding_id for _, _, binding_id in on_dashboard.keys}
        assert {"view.maximise", "view.next_pane", "risk.kill", "table.up"} <= dashboard_ids
        assert "runs.open" not in dashboard_ids and "backtest.launch" not in dashboard_ids
        await pilot.press("escape")
        assert app.screen is app.dashboard

        await pilot.press("b")
        backtests = app.screen
        assert isinstance(backtests, BacktestsScreen)
        await wait_for(pilot, lambda: backtests.query_one(RunsPane).table.has_focus)
        before, on_backtests = await open_help(pilot)
        assert before is backtests
        # Exactly the keys the footer and bindings of Backtests (its run list focused) offer.
        expected = {
            active.binding.id
            for active in backtests.active_bindings.values()
            if active.binding.id is not None and active.enabled
        }
        listed = {binding_id for _, _, binding_id in on_backtests.keys}
        assert listed == expected
        assert {"runs.open", "runs.compare", "backtest.launch", "view.back"} <= listed
        assert "view.maximise" not in listed
        assert on_backtests.screen_name == "Backtests"
        await pilot.press("escape")
        assert app.screen is backtests  # back where help was opened, not the dashboard


async def test_help_wraps_every_description_whole_within_80_columns(desk: OmsStore) -> None:
    app = TradeConsoleApp(config_for(desk.path), store=desk, clock=fixed_clock)
    async with app.run_test(size=SMALL) as pilot:
        await started(pilot)
        for opener in ((), ("b",)):
            await pilot.press(*opener)
            _, screen = await open_help(pilot)
            lines = help_lines(screen)
            assert max(len(line) for line in lines) <= SMALL[0]
            text = words("\n".join(lines))
            assert len(screen.keys) >= 10
            for shown, does, binding_id in screen.keys:
                # The key, its whole description and its id, in order, wrapped but never cut.
                assert words(f"{shown} {does} · {binding_id}") in text
            assert words(screen.intro) in text
            await pilot.press("escape")
        # The longest description wraps: the test above would see a cut one.
        longest = max(len(does) for _, does, _ in screen.keys)
        assert longest > SMALL[0] - 12


async def test_help_says_this_console_runs_no_node_and_watches_the_oms(desk: OmsStore) -> None:
    app = TradeConsoleApp(config_for(desk.path), store=desk, clock=fixed_clock)
    async with app.run_test(size=SMALL) as pilot:
        await started(pilot)
        _, screen = await open_help(pilot)
        assert screen.intro == node_intro(None, False, None)
        assert screen.intro.startswith("This console runs no node: it watches the OMS")
        assert "never talks to a node" not in words("\n".join(help_lines(screen)))


def test_help_says_which_node_runs_inside_or_which_one_holds_the_oms() -> None:
    inside = node_intro("shadow", True, None)
    assert inside.startswith("This console runs a SHADOW node in its own process")
    assert "detach" in inside
    refused = node_intro("live", False, "another node holds the OMS (pid 42)")
    assert refused.startswith("This console was asked to run a LIVE node, but another node")
