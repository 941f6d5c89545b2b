"""External venues: the Gemini adapter against a local Gemini server, the poller into a real
OMS file, the order path that writes before it sends, and the kill switch's cancels."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import msgspec
import pytest
from console_seed import column, config_for, fixed_clock, table_rows, wait_for
from gemini_server import GeminiServer, serving
from node_helpers import node_config, until

from console.app import TradeConsoleApp
from console.widgets.positions_pane import PositionsPane
from core.config import AppConfig, ExternalVenueConfig, load_config
from core.errors import ConfigError, TradeConsoleError
from core.execution.external import (
    ExternalOrder,
    OrderRequest,
    VenueAuthError,
    VenueUnavailable,
    create_adapter,
)
from core.execution.external.asset_totals import asset_totals
from core.execution.external.gemini import GeminiAdapter, sign
from core.execution.external.venues import ExternalVenues
from core.live.session import NodeSession
from core.oms import OmsStore
from core.oms.events import PositionSnapshot
from core.risk.trading_state import change_trading_state

KEY_ENV, SECRET_ENV = "TEST_GEMINI_API_KEY", "TEST_GEMINI_API_SECRET"


@pytest.fixture
async def server() -> AsyncIterator[GeminiServer]:
    async with serving() as gemini:
        yield gemini


@pytest.fixture
def venue_config(server: GeminiServer, monkeypatch: pytest.MonkeyPatch) -> ExternalVenueConfig:
    monkeypatch.setenv(KEY_ENV, server.api_key)
    monkeypatch.setenv(SECRET_ENV, server.api_secret)
    return ExternalVenueConfig(
        name="GEMINI",
        base_url=server.url,
        api_key_env=KEY_ENV,
        api_secret_env=SECRET_ENV,
        poll_interval_secs=0.05,
        # Room for a loaded machine (0.5 s was missed once, by a plain order, under two test
        # workers); the hanging server below answers half a second past it.
        request_timeout_secs=2.0,
        retry_backoff_secs=0.01,
    )


@pytest.fixture
async def adapter(venue_config: ExternalVenueConfig) -> AsyncIterator[GeminiAdapter]:
    made = create_adapter(venue_config)
    assert isinstance(made, GeminiAdapter)
    await made.connect()
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OmsStore]:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as opened:
        yield opened


@pytest.fixture
async def venues(
    venue_config: ExternalVenueConfig, store: OmsStore
) -> AsyncIterator[ExternalVenues]:
    config = AppConfig(external_venues=(venue_config,))
    made = ExternalVenues.from_config(config, store)
    await made.poller.load()
    for adapter in made.adapters.values():
        await adapter.connect()
    try:
        yield made
    finally:
        await made.stop()


def buy(client_order_id: str, quantity: float, price: float, **fields: object) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        instrument_id=str(fields.pop("instrument_id", "BTCUSD.GEMINI")),
        side="BUY",
        quantity=quantity,
        price=price,
        **fields,  # type: ignore[arg-type]
    )


async def poll(venues: ExternalVenues) -> None:
    assert await venues.poller.poll_once("GEMINI")
    await venues.store.flush()


def nautilus_btc_position(quantity: float) -> PositionSnapshot:
    """A long BTC position at the Nautilus venue, as ``OmsFeed`` writes one."""
    return PositionSnapshot(
        position_id="BTCUSDT.BINANCE-REBAL-001",
        event_id="nautilus-1",
        event_type="OPENED",
        sequence=1,
        ts_event=1,
        instrument_id="BTCUSDT.BINANCE",
        strategy_id="REBAL-001",
        account_id="BINANCE-001",
        side="LONG",
        signed_qty=quantity,
        quantity=quantity,
        avg_px_open=49_900.0,
        last_px=50_000.0,
        last_qty=quantity,
        realized_pnl=0.0,
        unrealized_pnl=30.0,
        currency="USDT",
        ts_opened=1,
    )


async def row_counts(store: OmsStore) -> dict[str, int]:
    counts = await store.counts()
    return {t: counts[t] for t in ("orders", "order_events", "fills", "positions", "balances")}


# -- config -------------------------------------------------------------------------------------


def test_credentials_come_from_the_environment_variables_the_config_names(
    venue_config: ExternalVenueConfig, server: GeminiServer
) -> None:
    adapter = create_adapter(venue_config)
    assert adapter.credentials.api_key == server.api_key
    assert adapter.credentials.api_secret == server.api_secret
    assert server.api_secret not in repr(adapter.credentials)


def test_a_missing_credential_variable_is_one_line_naming_field_and_variable(
    venue_config: ExternalVenueConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(ConfigError) as caught:
        create_adapter(venue_config, "external_venues.0")
    message = str(caught.value)
    assert "\n" not in message
    assert "external_venues.0.api_secret_env" in message and SECRET_ENV in message


def test_an_unknown_adapter_kind_is_refused_naming_the_field(
    venue_config: ExternalVenueConfig,
) -> None:
    wrong = msgspec.structs.replace(venue_config, kind="bitstamp")
    with pytest.raises(ConfigError, match=r"external_venues.0.kind: 'bitstamp' .*gemini"):
        create_adapter(wrong, "external_venues.0")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('name = "gemini"', "external_venues.0.name"),
        ('base_url = "api.gemini.com"', "external_venues.0.base_url"),
        ('api_key_env = "GEMINI KEY"', "external_venues.0.api_key_env"),
        ("poll_interval_secs = 0", "external_venues.0.poll_interval_secs"),
        ("request_timeout_secs = -1", "external_venues.0.request_timeout_secs"),
    ],
)
def test_a_bad_external_venue_key_stops_the_config_naming_it(
    tmp_path: Path, line: str, field: str
) -> None:
    entry = {
        "name": '"GEMINI"',
        "api_key_env": '"GEMINI_API_KEY"',
        "api_secret_env": '"GEMINI_API_SECRET"',
    }
    key = line.split(" = ")[0]
    entry[key] = line.split(" = ", 1)[1]
    body = "\n".join(f"{k} = {v}" for k, v in entry.items())
    path = tmp_path / "desk.toml"
    path.write_text(f"[[external_venues]]\n{body}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_an_external_venue_is_read_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    path.write_text(
        '[[external_venues]]\nname = "GEMINI"\napi_key_env = "K"\napi_secret_env = "S"\n'
        'instruments = ["BTCUSD"]\npoll_interval_secs = 5\n'
    )
    [venue] = load_config(path).external_venues
    assert (venue.kind, venue.base_url, venue.instruments, venue.poll_interval_secs) == (
        "gemini",
        "https://api.gemini.com",
        ("BTCUSD",),
        5.0,
    )


# -- the adapter against the local server -------------------------------------------------------


async def test_instruments_are_read_from_symbol_details(adapter: GeminiAdapter) -> None:
    instruments = {i.instrument_id: i for i in await adapter.instruments()}
    assert set(instruments) == {
        "BTCUSD.GEMINI",
        "BTCUSDT.GEMINI",
        "ETHUSD.GEMINI",
        "BTCGUSDPERP.GEMINI",
    }
    perp = instruments["BTCGUSDPERP.GEMINI"]
    assert (perp.base, perp.quote, perp.kind, perp.min_quantity) == ("BTC", "GUSD", "perp", 1e-5)
    assert instruments["BTCUSD.GEMINI"].kind == "spot"


async def test_a_resting_limit_order_is_listed_looked_up_and_cancelled(
    adapter: GeminiAdapter, server: GeminiServer
) -> None:
    placed = await adapter.submit(buy("c-1", 0.1, 49_000.0))
    assert (placed.status, placed.client_order_id, placed.filled_qty) == ("ACCEPTED", "c-1", 0.0)
    [listed] = await adapter.open_orders()
    assert listed.venue_order_id == placed.venue_order_id and listed.price == 49_000.0
    by_client = await adapter.order_status(client_order_id="c-1")
    assert by_client is not None and by_client.venue_order_id == placed.venue_order_id
    cancelled = await adapter.cancel(placed.venue_order_id)
    assert cancelled.status == "CANCELED"
    assert await adapter.open_orders() == []
    assert await adapter.order_status(venue_order_id="1") is None


async def test_a_marketable_order_fills_at_once_and_its_fill_and_balances_follow(
    adapter: GeminiAdapter,
) -> None:
    order = await adapter.submit(buy("c-2", 0.5, 51_000.0, order_type="MARKET"))
    assert (order.status, order.filled_qty, order.avg_px) == ("FILLED", 0.5, 50_000.0)
    [fill] = await adapter.fills(0)
    assert (fill.client_order_id, fill.side, fill.quantity, fill.price) == (
        "c-2",
        "BUY",
        0.5,
        50_000.0,
    )
    assert (fill.liquidity_side, fill.commission, fill.commission_currency) == (
        "TAKER",
        100.0,
        "USD",
    )
    balances = {b.currency: b for b in await adapter.balances()}
    assert balances["BTC"].total == 1.5
    assert balances["USD"].total == 100_000.0 - 25_000.0 - 100.0


async def test_a_perpetual_trade_shows_as_a_position(
    adapter: GeminiAdapter, server: GeminiServer
) -> None:
    await adapter.submit(buy("c-3", 0.2, 50_100.0, instrument_id="BTCGUSDPERP.GEMINI"))
    server.set_price("btcgusdperp", 50_500.0)
    [position] = await adapter.positions()
    assert position.instrument_id == "BTCGUSDPERP.GEMINI"
    assert (position.signed_qty, position.avg_px_open, position.last_px) == (
        0.2,
        50_000.0,
        50_500.0,
    )
    assert position.unrealized_pnl == pytest.approx(100.0)


async def test_a_spot_only_venue_asks_for_no_positions(
    venue_config: ExternalVenueConfig, server: GeminiServer
) -> None:
    spot = create_adapter(msgspec.structs.replace(venue_config, instruments=("BTCUSD",)))
    await spot.connect()
    try:
        assert await spot.positions() == []
    finally:
        await spot.close()
    assert "/v1/positions" not in server.requests


async def test_a_wrong_secret_is_refused_by_the_signature_check_in_one_line(
    venue_config: ExternalVenueConfig, monkeypatch: pytest.MonkeyPatch, server: GeminiServer
) -> None:
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    adapter = create_adapter(venue_config)
    try:
        with pytest.raises(VenueAuthError) as caught:
            await adapter.connect()
    finally:
        await adapter.close()
    message = str(caught.value)
    assert message == "GEMINI: InvalidSignature: InvalidSignature (HTTP 400, /v1/balances)"
    assert caught.value.reason == "InvalidSignature"


async def test_a_replayed_request_is_refused_for_its_nonce_as_the_venue_does(
    adapter: GeminiAdapter, server: GeminiServer
) -> None:
    payload = {"request": "/v1/balances", "nonce": adapter._nonce + 1_000}
    encoded, signature = sign(payload, server.api_secret)
    headers = {
        "X-GEMINI-APIKEY": server.api_key,
        "X-GEMINI-PAYLOAD": encoded,
        "X-GEMINI-SIGNATURE": signature,
    }
    async with aiohttp.ClientSession() as session:
        answers = []
        for _ in range(2):  # the same signed request twice: a replay
            async with session.post(f"{server.url}/v1/balances", headers=headers) as response:
                answers.append((response.status, (await response.json())))
    assert answers[0][0] == 200
    assert answers[1] == (
        400,
        {
            "result": "error",
            "reason": "InvalidNonce",
            "message": f"Nonce '{payload['nonce']}' has not increased since your last call",
        },
    )


async def test_reads_are_retried_after_5xx_rate_limits_and_timeouts(
    adapter: GeminiAdapter, server: GeminiServer
) -> None:
    server.fail_next(1, 503)
    server.fail_next(1, 429)
    before = len(server.requests)
    assert await adapter.open_orders() == []
    assert len(server.requests) - before == 3
    server.hang_secs = 2.5
    server.fail_next(1, 503, how="hang")
    assert await adapter.balances()
    server.fail_next(3, 502)
    with pytest.raises(VenueUnavailable, match=r"GEMINI: Maintenance: .*\(HTTP 502, /v1/orders\)"):
        await adapter.open_orders()


# -- the order path and the poller into the OMS -------------------------------------------------


async def test_an_order_is_in_the_oms_before_its_request_reaches_the_venue_then_fills(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    seen_at_venue: list[tuple] = []

    def read_oms(payload: dict) -> None:
        # Another connection, as a console in another process would read it.
        with sqlite3.connect(store.path) as reader:
            seen_at_venue.extend(
                reader.execute(
                    "SELECT client_order_id, status FROM orders WHERE client_order_id = ?",
                    (payload["client_order_id"],),
                ).fetchall()
            )

    server.on_new_order = read_oms
    request = buy(
        "O-EXT-1",
        0.4,
        51_000.0,
        order_type="MARKET",
        strategy_id="REBAL-001",
        operation_id="targets-abc",
        decision_price=50_010.0,
    )
    event = await venues.submit("GEMINI", request)
    assert seen_at_venue == [("O-EXT-1", "SUBMITTED")]
    assert (event.status, event.filled_qty, event.avg_px) == ("FILLED", 0.4, 50_000.0)
    await poll(venues)
    [order] = await store.orders()
    assert (order.status, order.order_type, order.strategy_id, order.operation_id) == (
        "FILLED",
        "MARKET",
        "REBAL-001",
        "targets-abc",
    )
    assert [e.status for e in await store.order_history("O-EXT-1")] == ["SUBMITTED", "FILLED"]
    [fill] = await store.fills()
    assert (fill.client_order_id, fill.quantity, fill.price, fill.account_id) == (
        "O-EXT-1",
        0.4,
        50_000.0,
        "GEMINI-API",
    )
    assert (fill.strategy_id, fill.decision_price, fill.commission) == ("REBAL-001", 50_010.0, 80.0)
    balances = {b.currency: b for b in await store.balances() if b.account_id == "GEMINI-API"}
    assert balances["BTC"].total == pytest.approx(1.4)
    assert balances["USD"].account_type == "MARGIN"


async def test_a_rejected_order_is_recorded_with_the_venue_reason(
    venues: ExternalVenues, store: OmsStore
) -> None:
    event = await venues.submit("GEMINI", buy("O-EXT-2", 10.0, 50_000.0))
    assert event.status == "REJECTED"
    assert "InsufficientFunds" in (event.reason or "") and "HTTP 406" in (event.reason or "")
    await store.flush()
    [order] = await store.orders()
    assert (order.status, order.is_open) == ("REJECTED", False)
    assert [e.event_type for e in await store.order_history("O-EXT-2")] == ["SUBMITTED", "REJECTED"]


async def test_an_order_for_another_venue_or_a_reused_id_is_refused_before_it_leaves(
    venues: ExternalVenues, server: GeminiServer
) -> None:
    with pytest.raises(TradeConsoleError, match="BINANCE is not an external venue"):
        await venues.submit("BINANCE", buy("O-X", 0.1, 1.0))
    with pytest.raises(TradeConsoleError, match=r"BTCUSDT\.BINANCE is not traded at GEMINI"):
        await venues.submit("GEMINI", buy("O-X", 0.1, 1.0, instrument_id="BTCUSDT.BINANCE"))
    await venues.submit("GEMINI", buy("O-Y", 0.1, 40_000.0))
    with pytest.raises(TradeConsoleError, match="O-Y: client order id already used"):
        await venues.submit("GEMINI", buy("O-Y", 0.1, 40_000.0))
    assert len(server.orders) == 1


async def test_polling_twice_and_after_a_restart_writes_nothing_new(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    resting = await venues.submit("GEMINI", buy("O-EXT-3", 0.1, 49_000.0))
    await venues.submit("GEMINI", buy("O-EXT-4", 0.2, 50_100.0, instrument_id="BTCGUSDPERP.GEMINI"))
    server.fill(resting.venue_order_id or "", 0.05)
    await poll(venues)
    first = await row_counts(store)
    version = await store.version()
    await poll(venues)
    assert await row_counts(store) == first
    restarted = ExternalVenues(list(venues.adapters.values()), store)
    await restarted.poller.load()
    assert await restarted.poller.poll_once("GEMINI")
    await store.flush()
    assert await row_counts(store) == first
    assert await store.version() == version
    order = next(o for o in await store.orders() if o.client_order_id == "O-EXT-3")
    assert (order.status, order.filled_qty) == ("PARTIALLY_FILLED", 0.05)
    maker = next(f for f in await store.fills() if f.client_order_id == "O-EXT-3")
    assert (maker.liquidity_side, maker.price) == ("MAKER", 49_000.0)


async def test_the_venue_book_forgets_old_closed_orders_and_keeps_open_ones(
    venues: ExternalVenues, server: GeminiServer
) -> None:
    for i in range(3):
        await venues.submit("GEMINI", buy(f"O-F-{i}", 0.01, 51_000.0))  # filled at once
    await venues.submit("GEMINI", buy("O-R", 0.01, 40_000.0))  # rests
    book = venues.poller.books["GEMINI"]
    book.prune(keep=1)
    assert sorted(book.orders) == ["O-F-2", "O-R"]
    assert sorted(book.by_venue_id.values()) == ["O-F-2", "O-R"]


async def test_a_5xx_during_polling_is_retried_and_a_lasting_outage_alerts_once(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    await venues.submit("GEMINI", buy("O-EXT-5", 0.1, 51_000.0))
    server.fail_next(2, 503)
    await poll(venues)
    assert len(await store.fills()) == 1
    assert await store.alerts() == []
    server.fail_next(9, 500)
    assert not await venues.poller.poll_once("GEMINI")
    assert not await venues.poller.poll_once("GEMINI")
    await store.flush()
    [alert] = await store.alerts()
    assert (alert.severity, alert.rule) == ("ERROR", "external_venue")
    assert "HTTP 500" in alert.message and "\n" not in alert.message
    problem = "GEMINI: Maintenance: The system is down for maintenance (HTTP 500, /v1/orders)"
    assert venues.problems() == {"GEMINI": problem}
    assert alert.message == "GEMINI: polling failed: " + problem.removeprefix("GEMINI: ")
    server._failures.clear()
    await poll(venues)
    assert venues.problems() == {}
    assert [a.severity for a in await store.alerts()] == ["INFO", "ERROR"]


async def test_an_order_gone_from_the_venue_gets_its_final_state_from_its_history(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    event = await venues.submit("GEMINI", buy("O-EXT-6", 0.1, 49_000.0))
    server.fill(event.venue_order_id or "")  # filled between two polls
    await poll(venues)
    [order] = await store.orders()
    assert (order.status, order.filled_qty, order.avg_px) == ("FILLED", 0.1, 49_000.0)


async def test_an_order_the_venue_never_heard_of_is_flagged_once(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    server.hang_secs = 2.5
    server.fail_next(1, 503, how="hang")  # the request never reaches the book
    with pytest.raises(VenueUnavailable):
        await venues.submit("GEMINI", buy("O-EXT-7", 0.1, 49_000.0))
    await poll(venues)
    await poll(venues)
    [order] = await store.orders()
    assert order.status == "SUBMITTED"
    alerts = [a for a in await store.alerts() if a.rule == "external_reconciliation"]
    assert (
        len(alerts) == 1
        and "O-EXT-7 is open in the OMS but GEMINI has no such order" in alerts[0].message
    )


async def test_an_order_whose_answer_was_lost_is_found_by_its_client_id(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    server.hang_secs = 2.5
    server.fail_next(1, 200, how="lose")  # placed, but the answer comes too late
    with pytest.raises(VenueUnavailable, match=r"no answer within 2 s"):
        await venues.submit("GEMINI", buy("O-EXT-8", 0.1, 49_000.0))
    await poll(venues)
    [order] = await store.orders()
    assert (order.status, order.venue_order_id) == ("ACCEPTED", str(max(server.orders)))
    assert [a.rule for a in await store.alerts()] == ["external_order_unknown"]


async def test_an_order_placed_outside_the_desk_is_recorded_under_the_venue_id(
    venues: ExternalVenues, store: OmsStore, server: GeminiServer
) -> None:
    placed = server.place_from_web(symbol="btcusd", side="sell", amount="0.1", price="52000")
    await poll(venues)
    [order] = await store.orders()
    assert (order.client_order_id, order.strategy_id, order.status) == (
        f"GEMINI-{placed['order_id']}",
        "EXTERNAL",
        "ACCEPTED",
    )
    assert (order.side, order.quantity, order.price) == ("SELL", 0.1, 52_000.0)


async def test_the_kill_cancels_every_open_order_at_the_external_venue(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    for i in range(3):
        await venues.submit("GEMINI", buy(f"O-K-{i}", 0.1, 48_000.0 + i))
    assert await venues.cancel_all_open("kill: HALTED") == 3
    assert not any(order.live for order in server.orders.values())
    await store.flush()
    assert {o.status for o in await store.orders()} == {"CANCELED"}
    await poll(venues)
    assert {o.status for o in await store.orders()} == {"CANCELED"}


async def test_a_kill_written_while_a_submit_answer_travels_is_not_undone_by_it(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = venues.adapters["GEMINI"]
    place = adapter.submit

    async def placed_then_killed(request: OrderRequest) -> ExternalOrder:
        answer = await place(request)
        await venues.cancel_all_open("kill: HALTED")  # lands before the answer is written
        return answer

    monkeypatch.setattr(adapter, "submit", placed_then_killed)
    event = await venues.submit("GEMINI", buy("O-RACE", 0.1, 48_000.0))
    assert event.status == "CANCELED"
    await store.flush()
    assert [e.status for e in await store.order_history("O-RACE")] == ["SUBMITTED", "CANCELED"]


async def test_positions_add_up_per_asset_across_a_nautilus_and_an_external_venue(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    store.submit(nautilus_btc_position(0.3))
    await venues.submit("GEMINI", buy("O-P-1", 0.2, 50_100.0, instrument_id="BTCGUSDPERP.GEMINI"))
    sell = OrderRequest(
        client_order_id="O-P-2",
        instrument_id="BTCGUSDPERP.GEMINI",
        side="SELL",
        quantity=0.5,
        price=49_000.0,
    )
    await venues.submit("GEMINI", sell)
    await poll(venues)
    positions = {p.instrument_id: p for p in await store.positions()}
    external = positions["BTCGUSDPERP.GEMINI"]
    assert (external.side, external.signed_qty, external.account_id) == (
        "SHORT",
        pytest.approx(-0.3),
        "GEMINI-API",
    )
    [total] = asset_totals(positions.values())
    assert (total.asset, total.venues) == ("BTC", ("BINANCE", "GEMINI"))
    assert total.signed_qty == pytest.approx(0.0)
    # Closed at the venue: the OMS position goes FLAT and the total goes with it.
    await venues.submit("GEMINI", buy("O-P-3", 0.3, 50_100.0, instrument_id="BTCGUSDPERP.GEMINI"))
    await poll(venues)
    positions = {p.instrument_id: p for p in await store.positions()}
    assert positions["BTCGUSDPERP.GEMINI"].side == "FLAT"
    assert asset_totals(positions.values()) == []


# -- the node -----------------------------------------------------------------------------------


async def test_the_node_polls_its_external_venue_and_a_kill_cancels_orders_there(
    config_writer: Callable[..., Path],
    tmp_path: Path,
    demo_root: str,
    venue_config: ExternalVenueConfig,
    server: GeminiServer,
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    config = msgspec.structs.replace(config, external_venues=(venue_config,))
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        await session.start()
        try:
            assert session.external is not None
            placed = server.place_from_web(symbol="ethusd", side="buy", amount="1", price="2900")
            await session.external.submit("GEMINI", buy("O-N-1", 0.1, 48_000.0))
            await until(lambda: len(session.external.poller.books["GEMINI"].orders) == 2)
            await change_trading_state(store, "HALTED", "alice", "test kill", now_ns=time.time_ns())
            await until(
                lambda: not any(order.live for order in server.orders.values()),
                what="the external venue's orders cancelled",
            )
            await until(lambda: session.trading_state == "HALTED")
            await asyncio.sleep(0.3)  # a heartbeat
            await store.flush()
            statuses = {o.client_order_id: o.status for o in await store.orders()}
            assert statuses["O-N-1"] == "CANCELED"
            assert statuses[f"GEMINI-{placed['order_id']}"] == "CANCELED"
            heartbeat = await store.node_status()
            assert heartbeat is not None and heartbeat.venues[-1] == "GEMINI"
            # HALTED denies new external orders as Nautilus's risk engine denies its own.
            denied = await session.external.submit("GEMINI", buy("O-N-2", 0.1, 48_000.0))
            assert (denied.status, denied.reason) == ("DENIED", "trading is HALTED")
            assert len(server.orders) == 2
        finally:
            await session.stop()


# -- the Positions pane -------------------------------------------------------------------------


async def test_positions_pane_at_80x24_shows_both_venues_and_the_per_asset_total(
    venues: ExternalVenues, server: GeminiServer, store: OmsStore
) -> None:
    store.submit(nautilus_btc_position(0.5))
    await venues.submit("GEMINI", buy("O-V-1", 0.2, 50_100.0, instrument_id="BTCGUSDPERP.GEMINI"))
    await poll(venues)
    app = TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.dashboard is not None
        positions = app.dashboard.query_one(PositionsPane)
        await pilot.press("tab")  # at 80 columns the panes show one at a time
        await wait_for(pilot, lambda: positions.data is not None and positions.display)
        rows = table_rows(positions.table)
        assert [row[:2] for row in rows] == [
            ["Σ BTC 2 venues", "0.7"],
            ["BTCGUSDPERP.GEMINI", "0.2"],
            ["BTCUSDT.BINANCE", "0.5"],
        ]
        assert column(positions.table, "unrealized")[0] == "+30.00"  # the PnL of both
        assert positions.border_subtitle == "2 open · no marks yet"  # no node marks them
        assert positions.region.width <= 80 and positions.table.region.height >= len(rows)
