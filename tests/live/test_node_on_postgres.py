"""A real node on a real PostgreSQL OMS whose server goes away while the node trades.

Each test has a server of its own (it is stopped and started again), on 127.0.0.1. The node
keeps trading from the replayed market while its OMS is unreachable, keeps every record in
memory, says so (an alert, the OMS writer part), and writes them all in order when the server
is back: compared with Nautilus's own cache, not a record lost, not one doubled.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from node_helpers import BTC, ETH, node_config, running, until, write_targets
from pg_server import PASSWORD, PgServer
from webhook_server import WebhookServer

from core.config import AppConfig, NotifyConfig
from core.live.lease import NodeLease, NodeLeaseHeld
from core.oms import OmsStore
from core.oms.postgres import NodeLock
from core.risk.trading_state import change_trading_state


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[PgServer]:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    pg = PgServer()  # under /tmp: run as postgres, it cannot enter pytest's private folders
    pg.start()
    yield pg
    pg.remove()


@pytest.fixture
def hook() -> Iterator[WebhookServer]:
    """The desk's notification channel: a local webhook."""
    with WebhookServer() as server:
        yield server


def on_postgres(config: AppConfig, url: str, **oms: object) -> AppConfig:
    """``config`` with its OMS at ``url`` (and other ``[oms]`` settings)."""
    return msgspec.structs.replace(config, oms=msgspec.structs.replace(config.oms, url=url, **oms))


def cache_fills(session) -> set[tuple[str, str]]:
    """(trade id, client order id) of every fill in Nautilus's own cache."""
    fills = set()
    for order in session.strategy.cache.orders():
        for event in order.events:
            if type(event).__name__ == "OrderFilled":
                fills.add((event.trade_id.value, event.client_order_id.value))
    return fills


def cache_order_events(session) -> int:
    return sum(len(order.events) for order in session.strategy.cache.orders())


async def oms_fills(store: OmsStore) -> list[tuple[str, str]]:
    return [(f.trade_id, f.client_order_id) for f in await store.fills(limit=100_000)]


async def test_a_server_restart_loses_and_doubles_nothing_while_the_node_trades(
    config_writer, tmp_path: Path, demo_root: str, server: PgServer, hook: WebhookServer
) -> None:
    config = on_postgres(node_config(config_writer, tmp_path, demo_root), server.url)
    config = msgspec.structs.replace(config, notify=NotifyConfig(urls=(hook.url(),), desk="D"))
    async with running(config) as (session, store):
        write_targets(config, {BTC: 0.3, ETH: 0.2})
        await until(lambda: len(cache_fills(session)) > 0, 30, "fills before the restart")
        await store.flush()
        server.stop()
        # The server is away: the node trades on, from the replayed market, into its memory.
        write_targets(config, {BTC: -0.2, ETH: 0.1})
        before = len(cache_fills(session))
        await until(lambda: len(cache_fills(session)) > before, 30, "fills while away")
        await until(lambda: store.stats.last_error is not None, 10, "the writer failing")
        await until(
            lambda: any(
                name == "OMS writer" and state == "WARN" for name, state, _ in session.parts()
            ),
            10,
        )
        kept = store.stats.pending
        assert kept > 0
        # The desk's channel hears of it now, from the heartbeat: the OMS cannot tell anyone.
        await until(lambda: any("OMS writer" in t for t in hook.titles()), 20, "the message")
        server.start()
        await until(lambda: store.stats.pending == 0, 30, "the kept records written")
        await store.flush()
        fills = await oms_fills(store)
        assert len(fills) == len(set(fills))  # none doubled
        assert set(fills) == cache_fills(session)  # none lost
        events = 0
        for order in await store.orders(limit=10_000):
            events += len(await store.order_history(order.client_order_id))
        assert events == cache_order_events(session)
        alerts = [a for a in await store.alerts(limit=500) if a.rule == "oms_unreachable"]
        assert [a.severity for a in alerts] == ["ERROR"]
        assert "records kept in memory" in alerts[0].message
        assert session.trading_state == "ACTIVE"  # under the bound: trading went on
        # The trading-state watch outlived the outage: a kill from another shell still lands.
        assert all(state == "OK" for name, state, _ in session.parts() if name == "state watch")
        async with await OmsStore.open(server.url) as shell:
            await change_trading_state(shell, "HALTED", "ops", "after the restart", source="cli")
        await until(lambda: session.trading_state == "HALTED", 10, "the kill applied")


async def test_the_buffer_bound_halts_trading_and_the_halt_is_recorded_when_back(
    config_writer, tmp_path: Path, demo_root: str, server: PgServer
) -> None:
    config = on_postgres(
        node_config(config_writer, tmp_path, demo_root), server.url, buffer_records=40
    )
    async with running(config) as (session, store):
        await store.flush()
        server.stop()
        write_targets(config, {BTC: 0.3, ETH: 0.2})  # orders, fills, positions: records
        await until(lambda: session.trading_state == "HALTED", 60, "the halt at the bound")
        assert store.stats.pending >= 40
        server.start()
        await until(lambda: store.stats.pending == 0, 30, "the kept records written")
        await store.flush()
        state = await store.trading_state()
        assert state is not None and state.state == "HALTED"
        assert state.actor == "auto: oms_buffer_full" and state.source == "auto"
        alerts = {a.rule: a.severity for a in await store.alerts(limit=500)}
        assert alerts["oms_buffer_full"] == "CRITICAL"
        assert alerts["oms_unreachable"] == "ERROR"
        fills = await oms_fills(store)
        assert set(fills) == cache_fills(session) and len(fills) == len(set(fills))
        await until(lambda: session.trading_state == "HALTED", 5)  # until an operator re-arms


async def test_a_second_node_on_another_machine_is_refused_by_the_servers_lock(
    config_writer, tmp_path: Path, demo_root: str, server: PgServer
) -> None:
    config = on_postgres(node_config(config_writer, tmp_path, demo_root), server.url)
    async with running(config) as (session, _):
        async with await OmsStore.open(server.url) as elsewhere:  # as another host would
            with pytest.raises(NodeLeaseHeld, match=f"held by node pid {session.lease.holder.pid}"):
                await NodeLease.acquire(elsewhere)
        # A restart drops the server's lock: the node takes it back at once.
        lock = session.lease._guard
        server.stop()
        server.start()
        await until(lambda: lock.holdings == 2, 20, "the lock taken back")
        assert session.lease.part() is None
        assert await NodeLock.take(server.url) is None  # held: another node would be refused
