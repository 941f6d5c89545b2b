"""The orchestrator routing to an external venue: a real shadow node (REPLAY, sandbox fills) with
routing on, and the local Gemini server as a second venue for BTCUSDT.

Gemini is priced at 4 bps (``[routing.venues.GEMINI]``) against Binance's 10; it holds 1 BTC
and 100,000 USDT, read by the poller; its public ticker, book and trades feed the router. The
server's BTCUSDT price is set to the node's last Binance price, so both venues are comparable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
from gemini_server import GeminiServer, _Refused, serving
from node_helpers import BTC, ETH, node_config, running, until
from test_external_venue import KEY_ENV, SECRET_ENV

from core.config import (
    AppConfig,
    ExternalVenueConfig,
    RoutingConfig,
    RoutingVenueConfig,
    load_config,
)
from core.errors import ConfigError
from core.live.session import NodeSession
from core.oms import OmsStore
from core.oms.events import OrderEvent, RoutedOrder
from core.risk.trading_state import change_trading_state

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

GEMINI_BTC = "BTCUSDT.GEMINI"


@pytest.fixture
async def server() -> AsyncIterator[GeminiServer]:
    async with serving(book_size=100.0) as gemini:  # the touch is no limit: the fee decides
        yield gemini


@pytest.fixture
def config(
    config_writer: Callable[..., Path],
    tmp_path: Path,
    demo_root: str,
    server: GeminiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AppConfig:
    monkeypatch.setenv(KEY_ENV, server.api_key)
    monkeypatch.setenv(SECRET_ENV, server.api_secret)
    gemini = ExternalVenueConfig(
        name="GEMINI",
        base_url=server.url,
        api_key_env=KEY_ENV,
        api_secret_env=SECRET_ENV,
        instruments=("BTCUSDT",),
        poll_interval_secs=0.05,
        request_timeout_secs=1.0,
        retry_backoff_secs=0.01,
    )
    routing = RoutingConfig(
        enabled=True,
        venues={"GEMINI": RoutingVenueConfig(taker_fee_bps=4.0)},
        max_participation=1.0,
        liquidity_window_secs=3600.0,
    )
    base = node_config(config_writer, tmp_path, demo_root)
    return msgspec.structs.replace(base, external_venues=(gemini,), routing=routing)


@asynccontextmanager
async def with_gemini(
    config: AppConfig, server: GeminiServer
) -> AsyncIterator[tuple[NodeSession, OmsStore]]:
    """A started node whose instruments have prices, Gemini priced like Binance; stopped after."""
    async with running(config) as (session, store):
        strategy = session.strategy
        price = strategy.last_price(strategy.cache.instrument(strategy._instrument_ids[0]))
        assert price is not None
        server.set_price("btcusdt", round(price, 2))
        server.trade_public("btcusdt", 0.5)
        routes = session.routes
        assert routes is not None and GEMINI_BTC in routes
        await until(lambda: routes.price(GEMINI_BTC) == round(price, 2), what="Gemini price")
        book = session.external.poller.books["GEMINI"]  # type: ignore[union-attr]
        await until(lambda: "BTC" in book.balances, what="Gemini balances polled")
        yield session, store


async def trading_state(session: NodeSession, store: OmsStore, state: str) -> None:
    """Set the kill switch as an operator does (through the OMS) and wait until it applies."""
    await change_trading_state(store, state, "op", f"test {state}")
    await until(lambda: session.trading_state == state, what=f"{state} applied")


async def oms(store: OmsStore) -> tuple[list[OrderEvent], dict[str, RoutedOrder]]:
    await store.flush()
    orders = await store.orders(limit=1_000)
    return orders, await store.routes([o.client_order_id for o in orders])


def nautilus_settled(session: NodeSession) -> bool:
    return all(order.is_closed for order in session.strategy.cache.orders())


async def test_the_cheaper_external_venue_gets_the_order_with_its_route_in_the_same_oms(
    config: AppConfig, server: GeminiServer
) -> None:
    async with with_gemini(config, server) as (session, store):
        strategy = session.strategy
        assert strategy.orchestrator.groups[BTC] == (BTC, GEMINI_BTC)
        held_at_gemini = 1.0
        lines = strategy.apply_targets({BTC: 0.4}, "op-gemini")
        (btc,) = [line for line in lines if line.instrument_id == BTC]
        # The asset's holding counts the coin held at Gemini (the unified position).
        assert btc.side == "BUY"
        await strategy.orchestrator.drain()
        orders, routes = await oms(store)
        (order,) = orders
        assert order.instrument_id == GEMINI_BTC and order.status == "FILLED"
        assert order.quantity == pytest.approx(btc.quantity)
        assert order.operation_id == "op-gemini"
        route = routes[order.client_order_id]
        assert route.venue == "GEMINI"
        assert {c["venue"] for c in route.candidates} == {"BINANCE", "GEMINI"}
        assert route.explanation.startswith("BUY ")
        assert "-> GEMINI at 4.00 bps" in route.explanation and "BINANCE 10.00" in route.explanation
        (placed,) = server.orders.values()
        assert placed.client_order_id == order.client_order_id
        assert placed.options == ["immediate-or-cancel"]
        assert strategy.cache.orders() == []  # nothing went to Binance
        # Once polled, the venue's balance is the instrument's holding.
        routes_ = session.routes
        assert routes_ is not None
        await until(
            lambda: routes_.holding(GEMINI_BTC) > held_at_gemini, what="the bought BTC polled"
        )
        assert routes_.holding(GEMINI_BTC) == pytest.approx(held_at_gemini + btc.quantity)


async def test_a_gemini_reject_is_rerouted_once_to_the_nautilus_venue(
    config: AppConfig, server: GeminiServer
) -> None:
    def refuse(payload: dict) -> None:
        raise _Refused(406, "InsufficientFunds", "Insufficient USDT to place order")

    server.on_new_order = refuse
    async with with_gemini(config, server) as (session, store):
        strategy = session.strategy
        strategy.apply_targets({BTC: 0.4}, "op-reject")
        await strategy.orchestrator.drain()
        await until(lambda: strategy.cache.orders(), what="the reroute to Binance")
        await until(lambda: nautilus_settled(session), what="the Binance order filled")
        orders, routes = await oms(store)
        by_venue = {o.instrument_id: o for o in orders}
        assert set(by_venue) == {GEMINI_BTC, BTC}
        rejected, rerouted = by_venue[GEMINI_BTC], by_venue[BTC]
        assert rejected.status == "REJECTED" and "InsufficientFunds" in (rejected.reason or "")
        assert rerouted.status == "FILLED"
        assert rerouted.quantity == pytest.approx(rejected.quantity)
        assert routes[rerouted.client_order_id].rerouted_from == rejected.client_order_id
        assert "rerouted GEMINI -> BINANCE" in routes[rerouted.client_order_id].explanation
        assert not server.orders  # the venue never placed it


async def test_an_unanswered_external_order_is_never_resent_and_raises_an_alert(
    config: AppConfig, server: GeminiServer
) -> None:
    def crash(payload: dict) -> None:
        raise RuntimeError("the venue fell over")  # HTTP 500: the desk cannot know the outcome

    server.on_new_order = crash
    async with with_gemini(config, server) as (session, store):
        strategy = session.strategy
        strategy.apply_targets({BTC: 0.4}, "op-lost")
        await strategy.orchestrator.drain()
        orders, _ = await oms(store)
        (order,) = orders
        assert (order.instrument_id, order.status) == (GEMINI_BTC, "SUBMITTED")
        about = order.client_order_id
        # The order path raises one alert, not two. The venue's poller may also have come round
        # on a slow machine and flagged the order open in the OMS but unknown at the venue:
        # true, and its own alert, not the order path's.
        alerts = [
            a
            for a in await store.alerts(limit=100)
            if about in a.message and a.rule != "external_reconciliation"
        ]
        assert [a.rule for a in alerts] == ["external_order_unknown"]  # one alert, not two
        assert "not resent" in alerts[0].message and alerts[0].severity == "ERROR"
        assert strategy.cache.orders() == []  # not rerouted to Binance either
        assert [path for path in server.requests if path == "/v1/order/new"] == ["/v1/order/new"]


async def test_halted_denies_the_external_leg_before_it_leaves(
    config: AppConfig, server: GeminiServer
) -> None:
    async with with_gemini(config, server) as (session, store):
        await trading_state(session, store, "HALTED")
        sent = session.strategy.send_lines(session.strategy.plan({BTC: 0.4}), "op-halted")
        await session.strategy.orchestrator.drain()
        assert sent == 0
        orders, routes = await oms(store)
        (order,) = orders
        assert (order.instrument_id, order.status) == (GEMINI_BTC, "DENIED")
        assert (order.reason or "").startswith("trading_state: ")
        assert routes[order.client_order_id].venue == "GEMINI"  # decided, then denied
        assert not server.orders
        alerts = [a for a in await store.alerts(limit=100) if a.rule == "trading_state"]
        assert any(order.client_order_id in a.message for a in alerts)


async def test_reducing_lets_the_external_sell_through_and_denies_the_buy(
    config: AppConfig, server: GeminiServer
) -> None:
    async with with_gemini(config, server) as (session, store):
        await trading_state(session, store, "REDUCING")
        strategy = session.strategy
        # 1 BTC held at Gemini (worth ~ a third of the equity): a 5% target sells most of it.
        strategy.apply_targets({BTC: 0.05, ETH: 0.2}, "op-reducing")
        await strategy.orchestrator.drain()
        await until(lambda: nautilus_settled(session), what="the ETH buy decided")
        orders, routes = await oms(store)
        seen = {(o.instrument_id, o.side, o.status) for o in orders}
        assert seen == {(GEMINI_BTC, "SELL", "FILLED"), (ETH, "BUY", "DENIED")}
        (sell,) = [o for o in orders if o.instrument_id == GEMINI_BTC]
        assert routes[sell.client_order_id].venue == "GEMINI"
        (placed,) = server.orders.values()
        assert placed.side == "sell" and placed.executed == pytest.approx(sell.quantity)
        await asyncio.sleep(0)  # nothing else pending


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        (
            "[routing.venues.GEMINI]\nlatency_penalty_bps = 1.0\n",
            "routing.venues.GEMINI.taker_fee_bps: required for an external venue "
            "(its instruments carry no fee)",
        ),
        (
            "[routing]\nexternal_slippage_bps = 0\n",
            "routing.external_slippage_bps: must be in (0, 1000] bps, got 0",
        ),
    ],
)
def test_a_bad_external_routing_setting_stops_the_config_in_one_line(
    tmp_path: Path, routing: str, message: str
) -> None:
    path = tmp_path / "desk.toml"
    path.write_text(
        f'[[external_venues]]\nname = "GEMINI"\napi_key_env = "K"\napi_secret_env = "S"\n{routing}'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: {message}"
