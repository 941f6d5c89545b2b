"""The trading state on every screen the operator can be on, live.

Each screen (the dashboard, a maximised pane, Backtests, a run's detail, compare, the session
compare, the rebalance screen, help) shows the status header with mode, node and trading state,
on top and visible, and follows a change of trading state that another connection, or another
process (``trade-console kill`` from a shell), writes to the OMS.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from console_seed import config_for, fixed_clock, heartbeat, wait_for
from run_helpers import write_run
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Label

from console.app import TradeConsoleApp
from console.screens.help import HelpScreen
from console.screens.rebalance import RebalanceScreen
from console.screens.run_compare import RunCompareScreen, SessionCompareScreen
from console.screens.run_detail import RunDetailScreen
from console.widgets.runs_pane import RunsPane
from console.widgets.status_header import StatusHeader
from core.oms import OmsStore
from core.risk.trading_state import change_trading_state

ROOT = Path(__file__).resolve().parents[2]
SMALL = (80, 24)
RUNS = ("BT-20260105-001", "BT-20260105-002")

Opener = Callable[[Pilot], Awaitable[None]]


@pytest.fixture(autouse=True)
def runs(desk: OmsStore) -> None:
    """Two completed runs in the results folder of the seeded desk's config (no node: the
    header shows the trading state the OMS holds)."""
    for run_id in RUNS:
        write_run(config_for(desk.path).results.root, run_id)


async def _runs(pilot: Pilot, run_id: str = RUNS[0]) -> RunsPane:
    """Open Backtests, with the list's cursor on ``run_id``."""
    await pilot.press("b")
    pane = pilot.app.screen.query_one(RunsPane)
    await wait_for(pilot, lambda: set(RUNS) <= set(pane.table.keys))
    _put_cursor(pane, run_id)
    await pilot.pause()
    return pane


def _put_cursor(pane: RunsPane, run_id: str) -> None:
    pane.table.focus()
    pane.table.move_cursor(row=pane.table.keys.index(run_id))


async def _dashboard(pilot: Pilot) -> None:
    pass


async def _maximised(pilot: Pilot) -> None:
    await pilot.press("m")
    assert pilot.app.screen.maximized is not None


async def _backtests(pilot: Pilot) -> None:
    await _runs(pilot)


async def _detail(pilot: Pilot) -> None:
    await _runs(pilot)
    await pilot.press("enter")
    assert isinstance(pilot.app.screen, RunDetailScreen)


async def _compare(pilot: Pilot) -> None:
    pane = await _runs(pilot)
    await pilot.press("space")
    _put_cursor(pane, RUNS[1])
    await pilot.press("space", "equals_sign")
    assert isinstance(pilot.app.screen, RunCompareScreen)


async def _session_compare(pilot: Pilot) -> None:
    await _runs(pilot)
    await pilot.press("v")
    assert isinstance(pilot.app.screen, SessionCompareScreen)


async def _rebalance(pilot: Pilot) -> None:
    await pilot.press("r")
    assert isinstance(pilot.app.screen, RebalanceScreen)


async def _help_over_backtests(pilot: Pilot) -> None:
    await _runs(pilot)
    await pilot.press("question_mark")
    assert isinstance(pilot.app.screen, HelpScreen)


SCREENS: dict[str, Opener] = {
    "dashboard": _dashboard,
    "maximised pane": _maximised,
    "backtests": _backtests,
    "run detail": _detail,
    "compare": _compare,
    "session compare": _session_compare,
    "rebalance": _rebalance,
    "help": _help_over_backtests,
}


def trading_label(screen: Screen) -> Label:
    """The header's trading state on ``screen``, checked to be drawn on top and unobscured."""
    header = screen.query_one(StatusHeader)
    trading = header.query_one("#trading", Label)
    assert header.region.y == 0 and header.region.height == 1
    # What the operator sees at the label's place is the label (not a pane drawn over it).
    assert screen.get_widget_at(*trading.region.offset)[0] is trading
    return trading


def says(screen: Screen, state: str) -> bool:
    trading = trading_label(screen)
    text = str(trading.render())
    # ACTIVE reads "trading ACTIVE"; a state someone set says who: "HALTED by tester 12:00Z".
    named = text == f"trading {state}" or text.startswith(f"{state} by ")
    return named and trading.has_class(f"-{state.lower()}")


@asynccontextmanager
async def on_screen(
    desk: OmsStore, opener: Opener, size: tuple[int, int] = SMALL
) -> AsyncIterator[tuple[TradeConsoleApp, Pilot, Screen]]:
    """The console over ``desk``, on the screen ``opener`` goes to, its header saying ACTIVE."""
    app = TradeConsoleApp(config_for(desk.path), store=desk, clock=fixed_clock)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.dashboard is not None and app.health is not None)
        await opener(pilot)
        screen = app.screen
        await wait_for(pilot, lambda: says(screen, "ACTIVE"))
        yield app, pilot, screen


@pytest.mark.parametrize("opener", SCREENS.values(), ids=SCREENS.keys())
async def test_every_screen_shows_the_trading_state_and_follows_a_change_written_elsewhere(
    desk: OmsStore, opener: Opener
) -> None:
    async with on_screen(desk, opener) as (app, pilot, screen):
        async with await OmsStore.open(desk.path) as other:  # another connection: a 2nd console
            await change_trading_state(other, "HALTED", "tester", "screens test", source="cli")
        await wait_for(pilot, lambda: says(screen, "HALTED"))
        assert app.screen is screen


async def test_a_kill_from_a_shell_shows_on_the_run_detail_screen(
    desk: OmsStore, tmp_path: Path
) -> None:
    config = tmp_path / "console.toml"
    config.write_text(f'[oms]\ndatabase = "{desk.path}"\n')
    async with on_screen(desk, _detail) as (app, pilot, screen):
        shell = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "console.cli",
            "kill",
            "--reduce-only",
            "--config",
            str(config),
            "--reason",
            "from another shell",
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await shell.communicate()
        assert (shell.returncode, err) == (0, b""), out
        await wait_for(pilot, lambda: says(screen, "REDUCING"))
        assert isinstance(app.screen, RunDetailScreen)


async def test_a_maximised_pane_keeps_the_header_above_it_and_the_keys_below(
    desk: OmsStore,
) -> None:
    async with on_screen(desk, _maximised) as (_, pilot, screen):
        maximised = screen.maximized
        assert maximised is not None
        assert maximised.region.y == 1 and maximised.region.width == SMALL[0]
        assert maximised.region.bottom == SMALL[1] - 1  # the footer's line
        await pilot.press("m")
        assert screen.maximized is None and says(screen, "ACTIVE")


@pytest.mark.parametrize("size", [SMALL, (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("opener", [_dashboard, _backtests], ids=["dashboard", "backtests"])
async def test_the_header_fits_its_width_on_the_dashboard_and_a_view_screen(
    desk: OmsStore, size: tuple[int, int], opener: Opener
) -> None:
    # At 80 columns the date and the currency give way (as on the dashboard), so the clock,
    # docked right, never covers the trading state or the equity.
    desk.submit(heartbeat())  # a node: its equity, in the currency, is in the header
    await desk.flush()
    async with on_screen(desk, opener, size) as (_, _, screen):
        header = screen.query_one(StatusHeader)
        wide = size[0] >= 120
        assert header.query_one("#date", Label).display is wide
        assert header.query_one("#currency", Label).display is wide
        clock = header.query_one("#clock", Label)
        equity = header.query_one("#equity", Label)
        assert equity.region.right <= clock.region.x
        assert screen.get_widget_at(*clock.region.offset)[0] is clock
