"""Who halted, from where, when and why, wherever the trading state shows: the header, the
Health pane, the kill switch, ``status``; and toasts about a state that leave when it changes."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
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
    table_rows,
    wait_for,
)
from textual.pilot import Pilot
from textual.widgets import Label, Static

from console.app import TradeConsoleApp
from console.cli import main
from console.screens.kill_switch import KillSwitchScreen
from console.widgets.health_pane import HealthPane
from core.oms import NodeStatus, OmsStore, TradingStateRecord
from core.risk.trading_state import operator_name

ROOT = Path(__file__).resolve().parents[2]
# An operator's reason holding markup: it must show as typed, never as bold.
REASON = "fat [bold]finger[/bold] on BTC"
SHELL_KILL = TradingStateRecord(
    ts_event=NOW - 60 * SECOND,
    state="HALTED",
    actor="ops",
    reason=REASON,
    source="cli",
    host="box.desk.example",
)
REARM = (sys.executable, "-m", "console.cli", "rearm", "--reason", "all clear")
WHOLE = f"HALTED by ops@box from a shell at 2026-01-05 11:59:11 UTC: {REASON}"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[OmsStore]:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many(desk_records())  # no node: the persisted state shows
        await store.flush()
        yield store


def node_applying(state: str) -> NodeStatus:
    """A running node's heartbeat, with ``state`` applied."""
    return msgspec.structs.replace(heartbeat(equity=103_250.75), trading_state=state)


def console(store: OmsStore) -> TradeConsoleApp:
    return TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)


def header(app: TradeConsoleApp, selector: str) -> Label:
    assert app.dashboard is not None
    return app.dashboard.query_one(selector, Label)


def notices(app: TradeConsoleApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def shown(pilot: Pilot) -> TradeConsoleApp:
    app = pilot.app
    assert isinstance(app, TradeConsoleApp)
    await wait_for(pilot, lambda: app.health is not None and app.dashboard is not None)
    return app


@pytest.mark.parametrize(
    ("size", "shown_as"),
    [((80, 24), "HALTED by ops 11:59Z"), ((160, 48), "HALTED by ops@box 11:59Z")],
    ids=["80x24", "160x48"],
)
async def test_the_header_says_who_halted_and_when_and_cuts_no_figure_at_80_columns(
    desk: OmsStore, size: tuple[int, int], shown_as: str
) -> None:
    desk.submit_many([SHELL_KILL, node_applying("HALTED")])  # the widest header: equity too
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=size) as pilot:
        await shown(pilot)
        trading = header(app, "#trading")
        await wait_for(pilot, lambda: str(trading.render()) == shown_as)
        assert trading.has_class("-halted")
        # The whole of it is on the screen, and the equity after it: nothing under the clock.
        clock = app.dashboard.query_one("#time") if app.dashboard is not None else None
        assert clock is not None
        assert trading.content_region.width == len(shown_as)
        equity = header(app, "#equity")
        assert str(equity.render()) == "equity 103,250.75"
        assert trading.region.right <= equity.region.x
        assert equity.region.right <= clock.region.x


async def test_the_health_pane_has_the_whole_who_where_when_and_why_as_plain_text(
    desk: OmsStore,
) -> None:
    desk.submit_many([SHELL_KILL, node_applying("ACTIVE")])
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot)
        assert app.dashboard is not None
        health = app.dashboard.query_one(HealthPane)
        await wait_for(pilot, lambda: any(row[0] == "trading" for row in table_rows(health.table)))
        [row] = [row for row in table_rows(health.table) if row[0] == "trading"]
        # The node's heartbeat still says ACTIVE: it has not applied the recorded halt yet.
        assert row == ["trading", "OK", f"ACTIVE in the node; recorded: {WHOLE}"]


async def test_the_kill_switch_says_who_set_the_state_in_force(desk: OmsStore) -> None:
    desk.submit(SHELL_KILL)
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await pilot.press("k")
        dialog = app.screen
        assert isinstance(dialog, KillSwitchScreen)
        origin = dialog.query_one("#origin", Static)
        assert str(origin.render()).replace("\n", " ") == f"Set: {WHOLE}"  # brackets as typed
        assert origin.region.height >= 1
        await pilot.press("f")  # the flatten's positions still fit beside it
        await pilot.pause()
        dialog_region = dialog.query_one("#dialog").region
        prompt = dialog.query_one("#prompt", Static)
        assert str(prompt.render()).startswith("Press y to FLATTEN")
        assert dialog_region.contains_region(prompt.region) and prompt.region.bottom <= 23


async def test_a_toast_about_a_halt_leaves_when_another_process_re_arms(
    tmp_path: Path, desk: OmsStore
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[oms]\ndatabase = "{desk.path}"\n')
    app = TradeConsoleApp(config_for(desk.path), store=desk, clock=fixed_clock, health_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await pilot.press("k", "f", "y")  # flatten
        await wait_for(pilot, lambda: any("HALTED (flatten) in force" in n for n in notices(app)))
        rearm = subprocess.run(
            [*REARM, "--config", str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rearm.returncode == 0, rearm.stderr
        await wait_for(pilot, lambda: not any("in force" in n for n in notices(app)))
        assert app.health is not None and app.health.trading_state == "ACTIVE"
        assert str(header(app, "#trading").render()) == "trading ACTIVE"


def test_status_says_who_halted_from_where_when_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fill() -> None:
        async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
            store.submit(SHELL_KILL)
            await store.flush()

    asyncio.run(fill())
    config = tmp_path / "config.toml"
    config.write_text(f'[oms]\ndatabase = "{tmp_path / "oms.sqlite"}"\n')
    assert main(["status", "--json", "--config", str(config)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trading_change"] == {
        "state": "HALTED",
        "flatten": False,
        "actor": "ops",
        "host": "box.desk.example",
        "source": "cli",
        "reason": REASON,
        "at": "2026-01-05T11:59:11.000Z",
        "at_ns": SHELL_KILL.ts_event,
        "short": "HALTED by ops@box 11:59Z",
        "text": WHOLE,
    }
    assert report["components"]["trading"] == {"state": "WARN", "detail": WHOLE}
    assert main(["status", "--config", str(config)]) == 0
    assert f"trading        {WHOLE}" in capsys.readouterr().out.splitlines()


async def test_an_automatic_reduce_says_which_rule_not_a_user(desk: OmsStore) -> None:
    reason = "drawdown 6.00% from peak 100,000.00 is over the 5.00% limit"
    automatic = TradingStateRecord(
        ts_event=NOW - SECOND,
        state="REDUCING",
        actor="auto: drawdown_limit",
        reason=reason,
        source="auto",
        host=socket.gethostname(),
    )
    desk.submit_many([automatic, node_applying("REDUCING")])
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        trading = header(app, "#trading")
        # At 80 columns with the equity, the rule's name is left to the Health pane.
        await wait_for(pilot, lambda: str(trading.render()) == "REDUCING by auto 12:00Z")
        assert app.health is not None
        assert app.health.component("trading").detail == (
            "REDUCING by auto: drawdown_limit from the node (automatic) at 2026-01-05 12:00:10 "
            f"UTC: {reason}"
        )


async def test_a_kill_from_this_console_is_signed_with_the_os_user_and_host(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await pilot.press("k", "h", "y")
        who = f"{operator_name()}@{socket.gethostname().split('.')[0]}"
        trading = header(app, "#trading")
        # No node, so no equity: the line has room for the whole short form.
        await wait_for(pilot, lambda: str(trading.render()) == f"HALTED by {who} 12:00Z")
    record = await desk.trading_state()
    assert record is not None
    assert (record.source, record.host) == ("console", socket.gethostname())


async def test_the_node_down_toast_leaves_once_a_node_beats_again(desk: OmsStore) -> None:
    desk.submit(heartbeat(ts_event=NOW - 12 * SECOND))  # no clean stop: NODE DOWN
    await desk.flush()
    app = TradeConsoleApp(config_for(desk.path), store=desk, clock=fixed_clock, health_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot)
        await wait_for(pilot, lambda: any("NODE DOWN" in n for n in notices(app)))
        desk.submit(heartbeat())  # a node again (restarted): RUNNING
        await desk.flush()
        await wait_for(pilot, lambda: not any("NODE DOWN" in n for n in notices(app)))
        assert str(header(app, "#node").render()) == "node RUNNING"
