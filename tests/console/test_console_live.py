"""Live updates: records committed to the OMS reach the panes, coalesced and bounded, from this
process or another connection, and a failing read becomes a notice rather than a dead pane."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from pathlib import Path
from typing import ClassVar

from console_seed import (
    NOW,
    SECOND,
    T0,
    column,
    config_for,
    desk_records,
    fixed_clock,
    heartbeat,
    order,
    wait_for,
)
from textual.message import Message
from textual.widgets import Label

from console.app import TradeConsoleApp
from console.widgets.alerts_pane import AlertsPane
from console.widgets.oms_pane import OmsPane
from console.widgets.orders_pane import OrdersPane
from console.widgets.table_pane import ROW_LIMIT, TablePane
from core.oms import OmsError, OmsStore, RiskAlert

SIZE = (80, 24)


def console(store: OmsStore, **options: object) -> TradeConsoleApp:
    return TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock, **options)


def orders_pane(app: TradeConsoleApp) -> OrdersPane:
    assert app.dashboard is not None
    return app.dashboard.query_one(OrdersPane)


async def test_a_committed_order_shows_within_the_refresh_interval(tmp_path: Path) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        app = console(store, refresh_interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.dashboard is not None)
            pane = orders_pane(app)
            await wait_for(pilot, lambda: pane.data is not None)
            store.submit(order(1, "ACCEPTED"))
            await store.flush()
            committed = time.monotonic()
            await wait_for(pilot, lambda: pane.table.row_count == 1, timeout=5.0)
            # A few refresh intervals, with room for a loaded CI machine: not the next poll
            # of a slow fallback, and not never.
            assert time.monotonic() - committed < 1.0
            assert column(pane.table, "order") == ["O-001"]


async def test_commits_from_another_connection_show_too(oms_location: str) -> None:
    # Another store on the same OMS is what the node's process is: no listener reaches the
    # console, which must notice the commit by itself (a poll on SQLite, the server's
    # announcement on PostgreSQL).
    path = oms_location
    async with await OmsStore.open(path) as console_store, await OmsStore.open(path) as node:
        app = console(console_store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.dashboard is not None)
            pane = orders_pane(app)
            await wait_for(pilot, lambda: pane.data is not None)
            node.submit_many([order(1, "ACCEPTED"), order(2, "FILLED")])
            await node.flush()
            committed = time.monotonic()
            await wait_for(pilot, lambda: pane.table.row_count == 2, timeout=5.0)
            assert time.monotonic() - committed < 1.0


async def test_a_burst_is_read_a_few_times_and_the_table_stays_bounded(tmp_path: Path) -> None:
    shown: list[float] = []
    seen: dict[int, Message] = {}  # kept alive, so that no id is reused

    def hook(message: Message) -> None:
        # The hook hears a message at each widget it bubbles through: count each once.
        ours = isinstance(message, TablePane.Shown) and isinstance(message.pane, OrdersPane)
        if ours and id(message) not in seen:
            seen[id(message)] = message
            shown.append(time.monotonic())

    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        app = console(store, refresh_interval=0.1)
        async with app.run_test(size=SIZE, message_hook=hook) as pilot:
            await wait_for(pilot, lambda: app.dashboard is not None)
            pane = orders_pane(app)
            await wait_for(pilot, lambda: pane.data is not None)
            shown.clear()
            started = time.monotonic()
            # 2,000 new orders in 20 ms steps over about a second: ~2,000 events/s.
            for step in range(50):
                store.submit_many(
                    [
                        order(step * 40 + i, "ACCEPTED", ts=T0 + (step * 40 + i) * SECOND)
                        for i in range(40)
                    ]
                )
                await asyncio.sleep(0.02)
            await store.flush()
            await wait_for(pilot, lambda: column(pane.table, "order")[:1] == ["O-1999"])
            elapsed = time.monotonic() - started
            assert pane.table.row_count == ROW_LIMIT
            assert len(pane.data) == ROW_LIMIT
        # At most one read per refresh interval (plus the first, and the last after the burst).
        assert 2 <= len(shown) <= elapsed / 0.1 + 2
        # Reads start at least 0.1 s apart; a slow read may land nearer the next one.
        gaps = [later - earlier for earlier, later in itertools.pairwise(shown)]
        assert statistics.median(gaps) >= 0.1 * 0.9


async def test_the_cursor_stays_on_its_order_when_new_ones_arrive_above(tmp_path: Path) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many([order(index, "ACCEPTED") for index in range(5)])
        await store.flush()
        app = console(store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.dashboard is not None)
            pane = orders_pane(app)
            await wait_for(pilot, lambda: pane.table.row_count == 5)
            await pilot.press("down", "down")
            assert column(pane.table, "order")[pane.table.cursor_row] == "O-002"
            store.submit_many([order(index, "ACCEPTED") for index in (5, 6)])
            await store.flush()
            await wait_for(pilot, lambda: pane.table.row_count == 7)
            assert column(pane.table, "order")[pane.table.cursor_row] == "O-002"


async def test_a_second_console_on_the_same_database_shows_the_same_state(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    async with await OmsStore.open(path) as first_store, await OmsStore.open(path) as second_store:
        first_store.submit_many(desk_records())
        await first_store.flush()
        first, second = console(first_store), console(second_store)
        async with first.run_test(size=SIZE) as one, second.run_test(size=SIZE) as two:
            for pilot, app in ((one, first), (two, second)):
                await wait_for(pilot, lambda app=app: app.dashboard is not None)
                await wait_for(pilot, lambda app=app: orders_pane(app).data is not None)
            assert column(orders_pane(first).table, "order") == column(
                orders_pane(second).table, "order"
            )
            await one.press("k", "h", "tab", *"second shell test", "enter", "y")
            assert second.dashboard is not None
            trading = second.dashboard.query_one("#trading", Label)
            await wait_for(two, lambda: str(trading.render()).startswith("HALTED by "))
    async with await OmsStore.open(path) as reopened:
        assert (await reopened.integrity_check()) == ["ok"]
        assert [entry.reason for entry in await reopened.audit()] == ["second shell test"]


class BrokenPane(OmsPane):
    """A pane whose reads fail, as they would on a disk that went away."""

    TITLE = "Broken"
    COLUMNS: ClassVar[tuple[tuple[str, int], ...]] = (("x", 3),)
    TABLES = frozenset({"orders"})

    async def fetch(self, store: OmsStore) -> None:
        raise OmsError("cannot read the OMS database: disk I/O error", store.path)


async def test_a_failing_read_is_a_visible_notice(tmp_path: Path) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        app = console(store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.dashboard is not None)
            await app.dashboard.mount(BrokenPane())
            await wait_for(pilot, lambda: bool(app._notifications))
            [notice] = list(app._notifications)
            assert notice.title.startswith("read ") and "Broken" in notice.title
            assert notice.message.endswith("cannot read the OMS database: disk I/O error")
            assert notice.severity == "error"
            # The other panes keep updating.
            store.submit(order(1, "ACCEPTED"))
            await store.flush()
            await wait_for(pilot, lambda: orders_pane(app).table.row_count == 1)


async def test_a_hidden_pane_is_read_when_it_shows(tmp_path: Path) -> None:
    # At 80x24 one pane shows at a time: the others wait, then show what is current.
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        app = console(store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.dashboard is not None)
            alerts = app.dashboard.query_one(AlertsPane)
            await wait_for(pilot, lambda: orders_pane(app).data is not None)
            store.submit(
                RiskAlert(alert_id="a1", ts_event=NOW, severity="INFO", rule="r", message="m")
            )
            await store.flush()
            await pilot.pause(0.3)
            assert not alerts.data  # not read again while hidden
            await pilot.press("tab", "tab", "tab")
            await wait_for(pilot, lambda: bool(alerts.data))
            assert column(alerts.table, "message") == ["m"]


def test_an_oms_change_gives_way_only_to_a_later_one_covering_its_tables() -> None:
    changed = TradeConsoleApp.OmsChanged
    assert changed(frozenset({"orders"})).can_replace(changed(frozenset({"orders", "fills"})))
    assert not changed(frozenset({"orders", "fills"})).can_replace(changed(frozenset({"orders"})))
    assert not changed(frozenset({"orders"})).can_replace(Message())


async def test_health_follows_the_clock_it_is_given(tmp_path: Path) -> None:
    # A heartbeat 11 s before the console's clock, with no clean stop, is a node gone silent:
    # the header says NODE DOWN, by the console's clock, not the wall clock.
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit(heartbeat(ts_event=NOW - 11 * SECOND))
        await store.flush()
        app = console(store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.health is not None)
            assert app.health is not None
            assert (app.health.mode, app.health.node_state) == ("SHADOW", "DOWN")
