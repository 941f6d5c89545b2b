"""Tables that fit their width: at 80x24 and 160x48 the Orders, Drift and Alerts panes draw
every number they show whole (a column that does not fit is dropped, never cut), and an alert
too long for its row ends in ``…`` and opens in full, escaped, with Enter."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from console_seed import (
    BTC,
    SECOND,
    T0,
    config_for,
    desk_records,
    drawn_rows,
    fixed_clock,
    numbers_whole,
    order,
    wait_for,
)
from textual.pilot import Pilot

from console.app import TradeConsoleApp
from console.screens.alert_detail import MAX_TEXT, AlertDetailScreen
from console.screens.dashboard import DashboardScreen
from console.widgets.alerts_pane import AlertsPane
from console.widgets.drift_pane import DriftPane
from console.widgets.orders_pane import OrdersPane
from console.widgets.table_pane import TablePane
from core.oms import OmsStore, Record, RiskAlert

SMALL = (80, 24)
LARGE = (160, 48)
REFUSAL = (
    "artifacts/orders/target_weights.json: weights[[bold]NOT-AN-INSTRUMENT[/bold]"
    + "x" * 300
    + "]: unknown instrument (the node knows: BTCUSDT.BINANCE, ETHUSDT.BINANCE)"
)
"""A target file's refusal, about 400 characters, with rich markup in it."""


def wide_records() -> list[Record]:
    """The seeded desk, and what draws widest: a partly filled order of 0.12345678 BTC at
    93,973.61 with a child, a price of 1,234,567.89, and the long refusal."""
    parent = msgspec.structs.replace(
        order(40, "PARTIALLY_FILLED"),
        instrument_id=BTC,
        quantity=0.12345678,
        filled_qty=0.06172839,
        avg_px=93_973.61,
    )
    child = msgspec.structs.replace(
        order(41, "FILLED"),
        client_order_id="O-041-CHILD",
        event_id="O-041-CHILD-FILLED",
        parent_order_id=parent.client_order_id,
        avg_px=1_234_567.89,
    )
    refusal = RiskAlert(
        alert_id="refusal",
        ts_event=T0 + 50 * SECOND,
        severity="WARNING",
        rule="target_file",
        message=REFUSAL,
    )
    return [*desk_records(), parent, child, refusal]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OmsStore]:
    store = await OmsStore.open(tmp_path / "oms.sqlite")
    store.submit_many(wide_records())
    await store.flush()
    yield store
    await store.close()


async def show_pane(pilot: Pilot, kind: type[TablePane]) -> TablePane:
    """Tab to the pane of ``kind`` (it shows alone at 80x24) once it holds its data."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    pane = screen.query_one(kind)
    while screen.panes[screen.current] is not pane:
        await pilot.press("tab")
    await wait_for(pilot, lambda: pane.data is not None and pane.table.row_count > 0)
    await pilot.pause()
    return pane


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
async def test_no_number_is_cut_in_orders_drift_or_alerts(
    store: OmsStore, size: tuple[int, int]
) -> None:
    app = TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)
    async with app.run_test(size=size) as pilot:
        orders = await show_pane(pilot, OrdersPane)
        # 80 columns wide (alone, or half of the grid): the filled quantity goes, whole.
        assert numbers_whole(orders.table) == 2 * orders.table.row_count
        drawn = drawn_rows(orders.table)
        assert {"qty": "0.12345678", "avg px": "93,973.61"}.items() <= drawn[0].items()
        assert drawn[1]["avg px"] == "1,234,567.89"
        assert drawn[1]["instrument"] == f"└ {BTC}"
        # Maximised, the pane shows more: at 160 columns every column.
        await pilot.press("m")
        await pilot.pause()
        assert numbers_whole(orders.table) >= 2 * orders.table.row_count
        drawn = drawn_rows(orders.table)
        if size == LARGE:
            assert drawn[0]["filled"] == "0.06172839"
            assert drawn[0]["order"] == "O-040" and drawn[0]["time"] == "12:00:40"
        await pilot.press("m")
        drift = await show_pane(pilot, DriftPane)
        assert numbers_whole(drift.table) >= 3 * drift.table.row_count
        assert {row["fill px"] for row in drawn_rows(drift.table)} == {"94,000.00"}
        alerts = await show_pane(pilot, AlertsPane)
        numbers_whole(alerts.table)
        message = drawn_rows(alerts.table)[0]["message"]
        # The reason first: the folder of a file's path is left to the full alert (Enter).
        assert message.endswith("…")
        assert REFUSAL.removeprefix("artifacts/orders/").startswith(message[:-1])
        assert len(message) >= 30


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
async def test_enter_opens_a_long_alert_in_full_and_escaped(
    store: OmsStore, size: tuple[int, int]
) -> None:
    app = TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)
    async with app.run_test(size=size) as pilot:
        alerts = await show_pane(pilot, AlertsPane)
        assert alerts.table.keys[alerts.table.cursor_row] == "refusal"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AlertDetailScreen)
        shown = screen.shown_text
        assert REFUSAL in shown  # brackets and all: never read as markup
        assert "time       2026-01-05 12:00:50 UTC" in shown
        assert "severity   WARNING" in shown and "kind       target_file" in shown
        assert "instrument -" in shown
        # Every line of it is on screen, inside the dialog.
        dialog = screen.query_one("#dialog")
        text = screen.query_one("#alert-text")
        assert dialog.region.bottom <= size[1]
        assert text.region.height == text.virtual_region.height
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_a_message_beyond_the_bound_is_cut_and_says_how_much_was_left_out(
    tmp_path: Path,
) -> None:
    huge = RiskAlert(
        alert_id="huge",
        ts_event=T0,
        severity="ERROR",
        rule="target_file",
        message="stored bounded; replaced below",
        instrument_id=BTC,
    )
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit(huge)
        await store.flush()
        # An alert is bounded when it is made (500 characters); one stored raw by an older
        # version is bounded again when it is read.
        with sqlite3.connect(store.path) as connection:
            connection.execute(
                "UPDATE risk_alerts SET message = ? WHERE alert_id = 'huge'",
                ("[red]" + "y" * 3 * MAX_TEXT,),
            )
        app = TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)
        async with app.run_test(size=SMALL) as pilot:
            await show_pane(pilot, AlertsPane)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, AlertDetailScreen)
            shown = screen.shown_text
            assert f"instrument {BTC}" in shown and "[red]" in shown
            # Read back, the alert is bounded again (core.errors.bounded): 500 shown.
            assert f"y... ({3 * MAX_TEXT + 5 - 500:,} more)" in shown
            assert len(shown) < 1_000
            # The dialog stays on screen.
            assert screen.query_one("#dialog").region.bottom <= SMALL[1]
            await pilot.press("escape")
            assert isinstance(app.screen, DashboardScreen)
