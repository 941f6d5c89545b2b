"""Snapshots of the dashboard in each theme at 80x24 and 160x48, on a fixed desk and clock.

Run ``pytest tests/console/test_console_snapshots.py --snapshot-update`` after a deliberate
change of the look, and review the SVGs it writes (under ``tests/console/__snapshots__``) before
committing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import lru_cache
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
    pnl_snapshot,
    targets_in_force,
    write_records,
)
from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter
from textual.pilot import Pilot

from console.app import TradeConsoleApp
from console.widgets.table_pane import TablePane
from core.oms import TradingStateRecord

DATABASE = "artifacts/oms.sqlite"


async def _loaded(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, TradeConsoleApp)
    for _ in range(200):
        panes = [] if app.dashboard is None else list(app.dashboard.query(TablePane))
        if app.health is not None and panes and all(p.data is not None for p in panes if p.display):
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("theme", ["trade-dark", "trade-light", "trade-high-contrast"])
def test_dashboard_looks_as_approved(
    snap_compare: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    theme: str,
    size: tuple[int, int],
) -> None:
    # The working folder is the OMS's, so the Health pane's path reads the same on any machine.
    monkeypatch.chdir(tmp_path)
    # A running node with its marks, PnL and targets: the header's PnL, the Positions pane's.
    records = [*desk_records(), heartbeat(equity=103_250.75), pnl_snapshot(), targets_in_force()]
    asyncio.run(write_records(DATABASE, records))
    app = TradeConsoleApp(config_for(DATABASE, theme=theme), clock=fixed_clock)
    assert snap_compare(app, terminal_size=size, run_before=_loaded)  # type: ignore[operator]


class SixteenColours(LineFilter):
    """What a 16-colour terminal (``TERM=screen``) shows: every colour reduced to the standard
    palette as Rich reduces it when it writes to such a terminal (the screenshot itself is
    always taken in truecolor)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [Segment(text, _standard(style), control) for text, style, control in segments]


@lru_cache(1024)
def _standard(style: Style | None) -> Style | None:
    if style is None:
        return None
    color, bgcolor = style.color, style.bgcolor
    return style + Style(
        color=None if color is None else color.downgrade(ColorSystem.STANDARD),
        bgcolor=None if bgcolor is None else bgcolor.downgrade(ColorSystem.STANDARD),
    )


class SixteenColourConsole(TradeConsoleApp):
    """The console as a 16-colour terminal draws it."""

    def get_line_filters(self) -> Sequence[LineFilter]:
        return [*super().get_line_filters(), SixteenColours()]


@pytest.mark.parametrize("state", ["HALTED", "REDUCING"])
@pytest.mark.parametrize("terminal", ["no-color", "16-colours"])
def test_trading_states_read_without_colour(
    snap_compare: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    terminal: str,
    state: str,
) -> None:
    # The state is in words and in text style (HALTED bold and reversed, REDUCING bold and
    # underlined): with NO_COLOR=1 every colour is a grey, and at 16 colours the theme's
    # shades fall onto a few palette entries.
    monkeypatch.chdir(tmp_path)
    if terminal == "no-color":
        monkeypatch.setenv("NO_COLOR", "1")  # read by the app as it is made
    kill = TradingStateRecord(ts_event=NOW - SECOND, state=state, actor="op", reason="snapshot")
    node = msgspec.structs.replace(heartbeat(equity=103_250.75), trading_state=state)
    asyncio.run(write_records(DATABASE, [*desk_records(), kill, node, pnl_snapshot()]))
    kind = SixteenColourConsole if terminal == "16-colours" else TradeConsoleApp
    app = kind(config_for(DATABASE), clock=fixed_clock)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_loaded)  # type: ignore[operator]
