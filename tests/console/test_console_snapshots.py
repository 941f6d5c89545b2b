"""Snapshots of the dashboard in each theme at 80x24 and 160x48, on a fixed desk and clock.

Run ``pytest tests/console/test_console_snapshots.py --snapshot-update`` after a deliberate
change of the look, and review the SVGs it writes (under ``tests/console/__snapshots__``) before
committing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from console_seed import (
    config_for,
    desk_records,
    fixed_clock,
    heartbeat,
    pnl_snapshot,
    targets_in_force,
    write_records,
)
from textual.pilot import Pilot

from console.app import TradeConsoleApp
from console.widgets.table_pane import TablePane

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
