"""The console on a PostgreSQL OMS whose server goes away and comes back (a real server of the
test's own, stopped and started): one notice, the OMS shown DOWN and nothing claimed about the
node, the last rows kept, and once the server is back what was committed meanwhile shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from console_seed import config_for, fixed_clock, order, wait_for
from pg_server import PASSWORD, PgServer

from console.app import TradeConsoleApp
from console.widgets.orders_pane import OrdersPane
from core.oms import OmsStore
from core.oms.health import UNKNOWN

SIZE = (80, 24)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[PgServer]:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    pg = PgServer()
    pg.start()
    yield pg
    pg.remove()


def notice_titles(app: TradeConsoleApp) -> list[str]:
    return [notification.title for notification in app._notifications]


async def test_the_console_rides_out_a_server_restart(server: PgServer) -> None:
    async with await OmsStore.open(server.url) as store:
        store.submit(order(1, "ACCEPTED"))
        await store.flush()
        app = TradeConsoleApp(config_for(server.url), store=store, clock=fixed_clock)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.dashboard is not None)
            pane = app.dashboard.query_one(OrdersPane)
            await wait_for(pilot, lambda: pane.table.row_count == 1)
            server.stop()
            await wait_for(pilot, lambda: "OMS unreachable" in notice_titles(app), timeout=20)
            await wait_for(
                pilot,
                lambda: app.health is not None and app.health.component("OMS").state == "DOWN",
                timeout=10,
            )
            assert app.health.node_state == UNKNOWN  # not "no node": one may be trading
            assert pane.table.row_count == 1  # the last state read stays
            await pilot.pause(3)
            assert notice_titles(app).count("OMS unreachable") == 1  # once per outage
            server.start()
            async with await OmsStore.open(server.url) as node:  # another process's commit
                node.submit(order(2, "FILLED"))
                await node.flush()
            await wait_for(pilot, lambda: pane.table.row_count == 2, timeout=20)
            await wait_for(pilot, lambda: "OMS reachable" in notice_titles(app), timeout=10)
            await wait_for(pilot, lambda: app.health.component("OMS").state == "OK", timeout=10)
