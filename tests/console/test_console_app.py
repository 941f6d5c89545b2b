"""The dashboard through Textual's Pilot: each pane, the header, and each key, as the user sees
them (cell texts, header labels, notices) on a real OMS file seeded with a small desk."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from console_seed import (
    NOW,
    SECOND,
    column,
    config_for,
    fixed_clock,
    heartbeat,
    numbers_whole,
    order,
    pnl_snapshot,
    table_rows,
    targets_in_force,
    wait_for,
)
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, Static

from console.app import GC_THRESHOLDS, TradeConsoleApp
from console.preferences import state_path
from console.screens.backtests import BacktestsScreen
from console.screens.help import HelpScreen
from console.screens.kill_switch import KillSwitchScreen
from console.screens.rebalance import RebalanceScreen
from console.widgets.alerts_pane import AlertsPane
from console.widgets.drift_pane import DriftPane
from console.widgets.health_pane import HealthPane
from console.widgets.oms_pane import OmsPane
from console.widgets.orders_pane import OrdersPane
from console.widgets.positions_pane import PositionsPane
from console.widgets.runs_pane import RunsPane
from console.widgets.table_pane import TablePane
from console.widgets.uploads_pane import UploadsPane
from core.oms import OmsStore, RunState
from core.risk.trading_state import operator_name

SMALL = (80, 24)
LARGE = (160, 48)


def console(store: OmsStore, **options: object) -> TradeConsoleApp:
    return TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock, **options)


async def loaded(pilot: Pilot) -> TradeConsoleApp:
    """Wait until every pane of the dashboard and the header show their first data, and return
    the app."""
    app = pilot.app
    assert isinstance(app, TradeConsoleApp)
    # Panes the narrow layout hides are read when they show. Health is read in a worker of its
    # own: on a busy machine the panes can be in before the header's first reading.
    await wait_for(
        pilot,
        lambda: (
            app.dashboard is not None
            and app.health is not None
            and all(p.data is not None for p in app.dashboard.query(TablePane) if p.display)
        ),
    )
    await pilot.pause()
    return app


def pane[P: TablePane](app: TradeConsoleApp, kind: type[P]) -> P:
    assert app.dashboard is not None
    return app.dashboard.query_one(kind)


def label(app: TradeConsoleApp, selector: str) -> str:
    assert app.dashboard is not None
    return str(app.dashboard.query_one(selector, Label).render())


def notices(app: TradeConsoleApp) -> list[str]:
    return [notification.message for notification in app._notifications]


# -- panes --------------------------------------------------------------------------------------


async def test_orders_pane_lists_open_orders_first_then_recent_with_status_colours(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        orders = pane(app, OrdersPane)
        assert column(orders.table, "status") == [
            "SUBMITTED",
            "ACCEPTED",
            "FILLED",
            "REJECTED",
            "CANCELED",
            "FILLED",
        ]
        assert table_rows(orders.table)[0][:5] == [
            "12:00:05",
            "BTCUSDT.BINANCE",
            "BUY",
            "1",
            "SUBMITTED",
        ]
        assert orders.border_subtitle == "2 open · 6 shown"
        colours = app.theme_variables
        status = orders.table.get_row_at(2)[4]
        rejected = orders.table.get_row_at(3)[4]
        assert status.style.color.name.lower() == colours["status-done"].lower()
        assert rejected.style.color.name.lower() == colours["status-bad"].lower()


async def test_positions_pane_without_a_node_shows_the_positions_own_figures_and_dashes(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        positions = pane(app, PositionsPane)
        rows = table_rows(positions.table)
        # instrument, qty, target, weight, drift, mark, unrealized, session, day, realized,
        # fees, avg px, src: no node marked anything, so no total, no session, no source.
        assert rows[0] == [
            "BTCUSDT.BINANCE",
            "0.75",
            "-",
            "-",
            "-",
            "94,000.00",
            "+123.40",
            "-",
            "-",
            "-10.50",
            "-",
            "93,060.00",
            "-",
        ]
        assert [row[0] for row in rows] == ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE", "SOLUSDT.BINANCE"]
        assert positions.border_subtitle == "2 open · no marks yet"


async def test_positions_weight_is_the_running_nodes_equity_share(desk: OmsStore) -> None:
    desk.submit(heartbeat(equity=100_000.0))
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        positions = pane(app, PositionsPane)
        await wait_for(pilot, lambda: column(positions.table, "weight")[0] != "-")
        # 0.75 BTC at 94,000 of 100,000 equity; -4 ETH at 3,300.
        assert column(positions.table, "weight") == ["70.5%", "-13.2%", "0.0%"]
        assert column(positions.table, "target") == ["-", "-", "-"]


async def test_positions_pane_marks_to_market_against_targets_with_drift_and_pnl(
    desk: OmsStore,
) -> None:
    # The node's snapshot (marks 94,210.50 / 3,301.25, not the fills' 94,000 / 3,300) and the
    # targets in force (65% BTC, -10% ETH) on the running node's 103,250.75 equity.
    desk.submit_many([heartbeat(equity=103_250.75), pnl_snapshot(), targets_in_force()])
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        positions = pane(app, PositionsPane)
        await wait_for(pilot, lambda: positions.table.row_count == 4)
        rows = {row[0]: row for row in table_rows(positions.table)}
        assert rows["BTCUSDT.BINANCE"] == [
            "BTCUSDT.BINANCE",
            "0.75",
            "65.0%",
            "68.4%",  # 0.75 x 94,210.50 / 103,250.75
            "+343",  # (68.43% - 65%) in bps of equity
            "94,210.50",
            "+862.88",  # 0.75 x (94,210.50 - 93,060)
            "+937.75",  # realized 120 + unrealized - fees 45.12
            "+437.75",
            "+120.00",
            "45.12",
            "93,060.00",
            "last",
        ]
        assert rows["ETHUSDT.BINANCE"][2:7] == ["-10.0%", "-12.8%", "-279", "3,301.25", "-45.00"]
        assert rows["Σ total"][6:11] == ["+817.88", "+861.65", "+361.65", "+104.50", "60.72"]
        assert table_rows(positions.table)[0][0] == "Σ total"
        assert positions.border_subtitle == (
            "2 open · session +861.65 · day +361.65 · last marks 12:00:10"
        )


async def test_drift_pane_marks_over_threshold_fills_and_sums_up_mean_and_p95(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        drift = pane(app, DriftPane)
        assert column(drift.table, "bps") == ["+10.6", "+2.1", "+1.1", "+0.0"]
        assert column(drift.table, "over") == ["OVER", "", "", ""]
        assert drift.border_subtitle == "mean +3.5 · p95 +9.4 bps · 1 over of 4"
        over = drift.table.get_row_at(0)[3]
        assert over.style.color.name.lower() == app.theme_variables["drift-over"].lower()


async def test_alerts_pane_shows_time_severity_rule_and_message(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        alerts = pane(app, AlertsPane)
        assert table_rows(alerts.table)[1] == [
            "12:00:06",
            "CRITICAL",
            "drawdown",
            "daily drawdown 3.1% over 3.0%",
        ]
        assert column(alerts.table, "severity") == ["INFO", "CRITICAL", "WARNING"]
        assert alerts.border_subtitle == "1 critical · 3 shown"


async def test_uploads_pane_puts_unfinished_files_first_with_their_errors(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        uploads = pane(app, UploadsPane)
        assert table_rows(uploads.table) == [
            ["logs/node.log", "10.0 MB", "queued", "0", "-"],
            ["results/run-1/summary.json", "2.0 KB", "failed", "3", "403 Forbidden: desk-results"],
            ["results/run-1/fills.parquet", "120.6 KB", "done", "0", "-"],
        ]
        assert uploads.border_subtitle == "1 active · 1 failed"


async def test_without_a_node_the_header_and_health_say_so(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert label(app, "#mode") == "BACKTEST"
        assert app.dashboard is not None
        assert app.dashboard.query_one("#mode").has_class("-backtest")
        assert label(app, "#node") == "node NO NODE"
        assert label(app, "#trading") == "trading ACTIVE"
        assert label(app, "#equity") == "equity -"
        assert label(app, "#venues") == "BINANCE"
        assert label(app, "#clock") == "12:00:11 UTC"
        health = table_rows(pane(app, HealthPane).table)
        assert [row[:2] for row in health] == [
            ["node", "NONE"],
            ["data feed", "NONE"],
            ["venue", "NONE"],
            ["GCS", "WARN"],
            ["OMS", "OK"],
        ]
        assert health[0][2] == "no node running"


async def test_a_shadow_node_shows_in_the_header_with_its_equity(desk: OmsStore) -> None:
    desk.submit(heartbeat(equity=103_250.75))
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: label(app, "#mode") == "SHADOW")
        assert app.dashboard is not None
        assert app.dashboard.query_one("#mode").has_class("-shadow")
        assert not app.dashboard.query_one("#mode").has_class("-backtest")
        assert label(app, "#node") == "node RUNNING"
        assert label(app, "#equity") == "equity 103,250.75"
        assert label(app, "#currency") == "USDT"
        assert label(app, "#date") == "2026-01-05"
        assert table_rows(pane(app, HealthPane).table)[0][:3] == [
            "node",
            "OK",
            "RUNNING, heartbeat 1s ago",
        ]


async def test_positions_fit_80_columns_with_whole_numbers_and_show_all_when_maximised(
    desk: OmsStore,
) -> None:
    desk.submit_many([heartbeat(equity=103_250.75), pnl_snapshot(), targets_in_force()])
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("tab")  # the narrow layout shows one pane: Positions
        positions = pane(app, PositionsPane)
        await wait_for(pilot, lambda: positions.table.row_count == 4)
        await pilot.pause()
        shown = [column.label for column, _ in positions.table.shown_columns]
        assert shown == [
            "instrument",
            "qty",
            "target",
            "bps",
            "mark",
            "unrealized",
            "session",
            "day",
        ]
        assert numbers_whole(positions.table) == 4 * 7
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        positions = pane(app, PositionsPane)
        await wait_for(pilot, lambda: positions.table.row_count == 4)
        positions.table.focus()
        await pilot.press("m")
        await pilot.pause()
        assert len(positions.table.shown_columns) == len(PositionsPane.COLUMNS)
        assert numbers_whole(positions.table) == 4 * 11


@pytest.mark.parametrize(
    ("size", "shown"),
    [(SMALL, "PnL +862 day +362"), (LARGE, "PnL +861.65 day +361.65")],
    ids=["80x24", "160x48"],
)
async def test_the_header_shows_the_sessions_and_the_days_pnl_whole_at_80_columns(
    desk: OmsStore, size: tuple[int, int], shown: str
) -> None:
    desk.submit_many([heartbeat(equity=103_250.75), pnl_snapshot()])
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=size) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: label(app, "#pnl") == shown)
        assert app.dashboard is not None
        header = app.dashboard.query_one("#header")
        pnl = header.query_one("#pnl", Label)
        assert pnl.display and pnl.has_class("-up") and not pnl.has_class("-down")
        # Every part of the line is on screen: mode, node, trading, equity and the PnL whole.
        placed = [w for w in header.query(Label) if w.display and w.region.width]
        assert all(w.region.right <= size[0] for w in placed)
        assert {"#mode", "#node", "#trading", "#equity", "#pnl"} <= {f"#{w.id}" for w in placed}
        assert pnl.region.width >= len(shown)


async def test_the_header_shows_no_pnl_without_a_running_node(desk: OmsStore) -> None:
    desk.submit(pnl_snapshot(ts_event=NOW - 60 * SECOND))  # a stopped node's last figures
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert app.dashboard is not None
        assert not app.dashboard.query_one("#pnl", Label).has_class("-shown")
        assert label(app, "#clock") == "12:00:11 UTC"


# -- keys ---------------------------------------------------------------------------------------


async def test_kill_switch_takes_a_grade_a_reason_then_y_and_records_the_halt(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("k")
        assert isinstance(app.screen, KillSwitchScreen)
        await pilot.press("h")  # the grade, never a letter of the reason
        assert app.screen.choice == "halt"
        assert app.screen.query_one(Input).value == ""
        await pilot.press("tab", *"fat finger", "enter")
        assert isinstance(app.screen, KillSwitchScreen)  # chosen, not yet done
        await pilot.press("y")
        # Who halted (and, when the line has room, where and when; the whole is in Health).
        await wait_for(
            pilot, lambda: label(app, "#trading").startswith(f"HALTED by {operator_name()}")
        )
        assert not isinstance(app.screen, KillSwitchScreen)
        assert app.dashboard is not None
        assert app.dashboard.query_one("#trading").has_class("-halted")
        assert (
            "HALTED in force: no node is running: recorded; a node started later comes up HALTED"
            in notices(app)
        )
    state = await desk.trading_state()
    assert state is not None
    assert (state.state, state.reason, state.ts_event) == ("HALTED", "fat finger", NOW)
    [entry] = await desk.audit()
    assert (entry.action, entry.reason, entry.ts) == ("kill", "fat finger", NOW)
    assert entry.details is not None
    assert (entry.details["source"], entry.details["node_running"]) == ("console", False)


async def test_with_a_node_running_the_kill_switch_says_the_node_applies_it(
    desk: OmsStore,
) -> None:
    desk.submit(heartbeat())
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: label(app, "#mode") == "SHADOW")
        await pilot.press("k")
        note = str(app.screen.query_one("#note", Static).render())
        assert "the node applies it within ~50 ms" in note
        await pilot.press("h", "tab", *"venue outage", "enter", "y")
        await wait_for(pilot, lambda: bool(notices(app)))
        assert notices(app) == ["HALTED in force: the node applies it within ~50 ms"]
    [entry] = await desk.audit()
    assert entry.details is not None and entry.details["node_running"] is True


async def test_with_a_silent_node_the_kill_switch_never_says_it_applies_it(
    desk: OmsStore,
) -> None:
    desk.submit(heartbeat(ts_event=NOW - 12 * SECOND))  # no clean stop: NODE DOWN
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("k")
        note = str(app.screen.query_one("#note", Static).render())
        assert "NODE DOWN (SHADOW): it is silent and applies nothing now" in note
        assert "applies it within" not in note


async def test_escape_closes_the_kill_switch_without_writing(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("k", "h", "tab", *"oops", "enter")
        assert app.screen.choice == "halt"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard
        assert "Kill switch closed: nothing was changed." in notices(app)
    assert await desk.audit() == []
    assert await desk.trading_state() is None


async def test_rebalance_screen_says_it_needs_the_node_and_shows_the_targets_file(
    desk: OmsStore, tmp_path: Path
) -> None:
    targets = tmp_path / "target_weights.json"
    targets.write_text(
        '{"as_of": "2026-01-05T00:00:00Z", "strategy_id": "research-v1", '
        '"weights": {"ETHUSDT.BINANCE": 0.25, "BTCUSDT.BINANCE": 0.4}}'
    )
    app = console(desk, targets_file=str(targets))
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, RebalanceScreen)
        assert "No node runs in this console" in str(screen.query_one("#note", Static).render())
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert table_rows(table) == [["BTCUSDT.BINANCE", "40.0%"], ["ETHUSDT.BINANCE", "25.0%"]]
        header = str(screen.query_one("#file", Static).render())
        assert "as of 2026-01-05 00:00:00 UTC, strategy research-v1, 2 instruments" in header
        await pilot.press("escape")
        assert app.screen is app.dashboard


async def test_rebalance_screen_without_a_targets_file_says_there_is_none(
    desk: OmsStore, tmp_path: Path
) -> None:
    app = console(desk, targets_file=str(tmp_path / "missing.json"))
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("r")
        header = app.screen.query_one("#file", Static)
        await wait_for(pilot, lambda: "no targets file yet" in str(header.render()))
        assert app.screen.query_one(DataTable).row_count == 0


async def test_backtests_screen_lists_the_oms_runs_and_follows_new_ones(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("b")
        assert isinstance(app.screen, BacktestsScreen)
        runs = app.screen.query_one(RunsPane)
        await wait_for(pilot, lambda: runs.data is not None)
        assert [row[:4] for row in table_rows(runs.table)] == [
            ["20260105-130000-demo", "RUNNING", "42.0%", "running"],
            ["20260105-120000-demo", "COMPLETED", "100.0%", "writing"],
        ]
        desk.submit(RunState(run_id="20260105-140000-new", state="QUEUED", updated_at=NOW))
        await desk.flush()
        await wait_for(pilot, lambda: runs.table.row_count == 3)
        assert column(runs.table, "run")[0] == "20260105-140000-new"
        await pilot.press("escape")
        assert app.screen is app.dashboard


async def test_backtests_screen_of_an_empty_oms_shows_no_rows(tmp_path: Path) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        app = console(store)
        async with app.run_test(size=SMALL) as pilot:
            await pilot.press("b")
            runs = app.screen.query_one(RunsPane)
            await wait_for(pilot, lambda: runs.data is not None)
            assert runs.table.row_count == 0
            assert runs.border_subtitle == "no runs in the OMS yet"


async def test_help_lists_every_key_with_its_binding_id(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {binding_id: shown for shown, _, binding_id in app.screen.keys}
        assert keys == {
            "view.next_pane": "tab",
            "view.previous_pane": "shift+tab",
            "view.maximise": "m",
            "risk.kill": "k",
            "rebalance.preview": "r",
            "backtest.open": "b",
            "app.help": "?",
            "app.quit": "q",
            # The focused pane's table: its rows are read with these.
            "table.up": "↑",
            "table.down": "↓",
            "table.page_up": "pgup",
            "table.page_down": "pgdn",
            "table.first": "home",
            "table.last": "end",
        }


async def test_a_keymap_moves_the_kill_switch_to_another_key(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        app.set_keymap({"risk.kill": "x"})
        await pilot.press("k")
        assert app.screen is app.dashboard
        await pilot.press("x")
        assert isinstance(app.screen, KillSwitchScreen)
        await pilot.press("escape")
        await pilot.press("question_mark")
        keys = {binding_id: shown for shown, _, binding_id in app.screen.keys}
        assert keys["risk.kill"] == "x"


async def test_q_quits(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_view_keys_wait_while_the_kill_switch_is_open(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.press("k")
        await pilot.press("b", "question_mark")
        assert isinstance(app.screen, KillSwitchScreen)
        assert "? does nothing here" in str(app.screen.query_one("#message", Static).render())
        await pilot.press("r")
        assert isinstance(app.screen, KillSwitchScreen)
    assert await desk.trading_state() is None  # r chose reduce only; nothing confirmed it


# -- layout -------------------------------------------------------------------------------------


async def test_tab_and_shift_tab_walk_the_panes_one_at_a_time_at_80_columns(
    desk: OmsStore,
) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert app.dashboard is not None
        shown = lambda: [p.id for p in app.dashboard.query(TablePane) if p.display]  # noqa: E731
        assert shown() == ["orders"]
        await pilot.press("tab")
        await pilot.pause()
        assert shown() == ["positions"]
        assert app.focused is pane(app, PositionsPane).table
        await pilot.press("shift+tab", "shift+tab")
        await pilot.pause()
        assert shown() == ["health"]
        assert app.focused is pane(app, HealthPane).table
        assert app.dashboard.query_one("#strip").display


async def test_at_160x48_every_pane_shows_in_a_grid_and_tab_moves_focus(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        assert app.dashboard is not None
        panes = list(app.dashboard.query(TablePane))
        assert all(p.display and p.region.width >= 78 and p.region.height >= 14 for p in panes)
        assert not app.dashboard.query_one("#strip").display
        assert app.focused is pane(app, OrdersPane).table
        await pilot.press("tab", "tab")
        assert app.focused is pane(app, DriftPane).table


async def test_m_maximises_the_focused_pane_and_restores_it(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=LARGE) as pilot:
        await loaded(pilot)
        await pilot.press("tab", "m")
        assert app.screen.maximized is pane(app, PositionsPane)
        await pilot.press("tab")  # the next pane takes over the screen
        assert app.screen.maximized is pane(app, DriftPane)
        await pilot.press("m")
        assert app.screen.maximized is None


async def test_tables_scroll_with_the_keyboard(tmp_path: Path) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many([order(index, "ACCEPTED") for index in range(60)])
        await store.flush()
        app = console(store)
        async with app.run_test(size=SMALL) as pilot:
            await loaded(pilot)
            table = pane(app, OrdersPane).table
            await pilot.press("pagedown", "pagedown")
            assert table.cursor_row > 20
            assert table.scroll_y > 0


async def test_a_terminal_below_80x24_shows_a_message_until_it_grows(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=(70, 20)) as pilot:
        await loaded(pilot)
        message = app.screen.query_one("#message", Static)
        assert "Terminal too small: 70x20" in str(message.render())
        assert "at least 80x24" in str(message.render())
        await pilot.press("r")
        assert app.screen.query("#message")  # the view keys wait
        await pilot.resize_terminal(79, 30)
        await pilot.pause()
        assert "79x30" in str(app.screen.query_one("#message", Static).render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen is app.dashboard


# -- themes and palette -------------------------------------------------------------------------


async def test_the_configured_theme_is_used_and_the_palette_switches_it(desk: OmsStore) -> None:
    app = TradeConsoleApp(config_for(desk.path, theme="trade-light"), store=desk, clock=fixed_clock)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert app.theme == "trade-light"
        orders = pane(app, OrdersPane)
        light = orders.table.get_row_at(2)[4].style.color.name
        await pilot.press("ctrl+p")
        await pilot.press(*"theme: trade-high-contrast")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.theme == "trade-high-contrast")
        await pilot.pause()
        recoloured = orders.table.get_row_at(2)[4].style.color.name
        assert recoloured.lower() == app.theme_variables["status-done"].lower()
        assert recoloured != light


async def test_palette_commands_are_named_area_then_verb(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert app.dashboard is not None
        titles = [command.title for command in app.get_system_commands(app.dashboard)]
        assert {
            "risk: halt trading (kill switch)",
            "risk: reduce only (kill switch)",
            "risk: flatten all positions (kill switch)",
            "risk: re-arm trading (rearm)",
            "rebalance: preview and send",
            "backtest: launch a run",
            "backtest: compare runs",
            "view: maximise pane",
            "theme: trade-dark",
            "theme: trade-light",
            "theme: trade-high-contrast",
            "quit: leave the console",
        } <= set(titles)
        assert all(": " in title and title == title.lower() for title in titles)


@pytest.mark.parametrize(
    ("typed", "opens", "grade"),
    [
        ("flatten", KillSwitchScreen, "flatten"),
        ("rearm", KillSwitchScreen, None),  # trading is ACTIVE: re-arm is not on offer
        ("halt", KillSwitchScreen, "halt"),
        ("reduce", KillSwitchScreen, "reduce"),
        ("compare", BacktestsScreen, None),
        ("backtest", BacktestsScreen, None),
    ],
)
async def test_the_palette_finds_the_desk_actions_by_the_words_an_operator_types(
    desk: OmsStore, typed: str, opens: type, grade: str | None
) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        theme = app.theme
        await pilot.press("ctrl+p")
        await pilot.press(*typed)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, opens))
        assert app.theme == theme  # "halt" once found "theme: trade-light" first
        assert app.is_running
        await pilot.pause()
        assert getattr(app.screen, "choice", None) == grade  # chosen, not done: y decides
        assert (await desk.trading_state()) is None


async def test_palette_then_enter_with_nothing_typed_never_quits(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert app.dashboard is not None
        discovered = [c for c in app.get_system_commands(app.dashboard) if c.discover]
        assert all(not c.title.startswith("quit") for c in discovered)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.is_running
        assert isinstance(app.screen, BacktestsScreen)  # the first listed: harmless


async def test_the_chosen_theme_is_kept_for_the_next_start(desk: OmsStore) -> None:
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert app.theme == "trade-dark"
        await pilot.press("ctrl+p")
        await pilot.press(*"theme: trade-light")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.theme == "trade-light")
    assert json.loads(state_path().read_text())["theme"] == "trade-light"
    again = console(desk)
    async with again.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert again.theme == "trade-light"


async def test_a_broken_state_file_is_ignored_and_the_config_theme_used(desk: OmsStore) -> None:
    state_path().parent.mkdir(parents=True, exist_ok=True)
    state_path().write_text("{not json")
    app = TradeConsoleApp(config_for(desk.path, theme="trade-light"), store=desk, clock=fixed_clock)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert app.theme == "trade-light"


async def test_a_long_running_console_tunes_the_garbage_collector(desk: OmsStore) -> None:
    thresholds = gc.get_threshold()
    app = console(desk, tune_gc=True)
    try:
        async with app.run_test(size=SMALL) as pilot:
            await loaded(pilot)
            assert gc.get_threshold() == GC_THRESHOLDS
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_every_pane_kind_reads_only_through_the_app(desk: OmsStore) -> None:
    # The panes the OMS feeds are registered with the app, which alone reads the store.
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        registered = {type(view) for view in app._views}
        assert registered == {OrdersPane, PositionsPane, DriftPane, AlertsPane, UploadsPane}
        assert all(issubclass(kind, OmsPane) for kind in registered)


# -- a node that stops beating --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("silent_for", "word", "css_class", "node_line"),
    [(4, "NODE STALE", "-stale", "WARN"), (12, "NODE DOWN", "-down", "DOWN")],
)
async def test_a_silent_node_is_said_in_words_in_the_header_and_health(
    desk: OmsStore, silent_for: int, word: str, css_class: str, node_line: str
) -> None:
    desk.submit(heartbeat(ts_event=NOW - silent_for * SECOND))
    await desk.flush()
    app = console(desk)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        assert label(app, "#node") == word
        assert app.dashboard is not None
        assert app.dashboard.query_one("#node").has_class(css_class)
        assert label(app, "#mode") == "SHADOW"  # the node's mode: it is that node that is silent
        assert label(app, "#equity") == "equity -"  # its last figure is no longer current
        assert app.health is not None and app.health.component("node").state == node_line


async def test_a_dead_node_raises_one_critical_alert_however_many_readings(
    desk: OmsStore,
) -> None:
    desk.submit(heartbeat(ts_event=NOW - 12 * SECOND))
    await desk.flush()
    app = console(desk, health_interval=0.05)
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await pilot.pause(0.5)  # ten readings, all seeing the same death
        await desk.flush()
        assert any("NODE DOWN" in notice for notice in notices(app))
    second = console(desk)  # another console noticing the same death
    async with second.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        await desk.flush()
    deaths = [a for a in await desk.alerts(limit=50) if a.rule == "node_down"]
    assert len(deaths) == 1 and deaths[0].severity == "CRITICAL"
