"""The OMS fed by a real small Nautilus backtest: its rows must be the engine's own orders.

One engine runs six hours of the session's demo data with the rebalancing strategy, the
``OmsFeed`` actor and a risk limit that denies the first, too large, BTC order. Targets are set
so that positions open, change and close. Everything is compared with the engine's cache after
the run: orders with their whole event history, fills, positions, balances.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import warnings
from pathlib import Path

import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.node import get_fill_model, get_latency_model
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AccountType, OmsType, TradingState
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import TraderId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from core.backtest.catalog import write_trade_ticks
from core.backtest.nautilus_setup import venue_config
from core.config import VenueConfig
from core.data.instrument_specs import load_instrument_specs
from core.data.nautilus_instruments import to_nautilus_instrument
from core.data.ticks import TickReader
from core.execution.oms_feed import OmsFeed, OmsFeedConfig, trading_state_alert
from core.execution.strategy import (
    NautilusRebalanceStrategy,
    NautilusRebalanceStrategyConfig,
    ScheduledTargets,
)
from core.oms import OmsStore

DAY = dt.date(2026, 1, 5)  # conftest's first demo day
START = dt.datetime.combine(DAY, dt.time(), dt.UTC)
HOURS = 6
HOUR_NS = 3_600_000_000_000
START_NS = int(START.timestamp()) * 1_000_000_000
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
# BTC at ~94k: a 0.4 weight of 100k USDT is ~40k, over this limit, so that order is DENIED.
MAX_BTC_NOTIONAL = 20_000
# Small enough that some fills of this quiet morning cross it and some do not.
DRIFT_THRESHOLD_BPS = 0.1
SCHEDULE = (
    (1, {BTC: 0.4, ETH: 0.3}),  # BTC denied, ETH opens
    (2, {BTC: 0.1, ETH: 0.5}),  # BTC opens, ETH grows
    (3, {BTC: 0.05, ETH: 0.1}),  # both shrink
    (4, {BTC: 0.0, ETH: 0.0}),  # both close
)


def _engine(demo_root: str, log_dir: Path, scratch: Path) -> BacktestEngine:
    specs = load_instrument_specs(demo_root, DAY)
    instruments = [to_nautilus_instrument(specs[key]) for key in (BTC, ETH)]
    catalog = ParquetDataCatalog(str(scratch))
    reader = TickReader(demo_root)
    for instrument in instruments:
        table = reader.read_window(instrument.id.value, START, START + dt.timedelta(hours=HOURS))
        write_trade_ticks(catalog, instrument, table)
    venue = venue_config(VenueConfig())
    engine = BacktestEngine(
        BacktestEngineConfig(
            logging=LoggingConfig(log_level="OFF", log_directory=str(log_dir)),
            run_analysis=False,
            risk_engine=RiskEngineConfig(max_notional_per_order={BTC: MAX_BTC_NOTIONAL}),
        )
    )
    engine.add_venue(
        venue=Venue(venue.name),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=None,
        starting_balances=[Money.from_str(b) for b in venue.starting_balances],
        fill_model=get_fill_model(venue),
        latency_model=get_latency_model(venue),
        trade_execution=True,
    )
    for instrument in instruments:
        engine.add_instrument(instrument)
    engine.add_data(catalog.query(TradeTick))
    strategy = NautilusRebalanceStrategy(
        NautilusRebalanceStrategyConfig(strategy_id="REBAL-001", instrument_ids=(BTC, ETH))
    )
    strategy.schedule_targets(
        [
            ScheduledTargets(START_NS + hour * HOUR_NS, f"op-{hour}", weights)
            for hour, weights in SCHEDULE
        ]
    )
    engine.add_strategy(strategy)
    return engine


@pytest.fixture(scope="module")
def fed(demo_root: str, log_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The engine after the run (its cache), the OMS path, and the feed."""
    folder = tmp_path_factory.mktemp("oms-feed")
    database = folder / "oms.sqlite"
    engine = _engine(demo_root, log_dir, folder / "catalog")

    async def run() -> OmsFeed:
        async with await OmsStore.open(database) as store:
            feed = OmsFeed(OmsFeedConfig(drift_threshold_bps=DRIFT_THRESHOLD_BPS), store.submit)
            engine.add_actor(feed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas' Pandas4Warning on every run
                engine.run()  # synchronous: records wait in the queue until flush
            await store.flush()
            return feed

    feed = asyncio.run(run())
    yield engine, database, feed
    engine.dispose()


async def _read(database: Path):
    async with await OmsStore.open(database, read_only=True) as store:
        orders = await store.orders(limit=10_000)
        histories = {
            o.client_order_id: await store.order_history(o.client_order_id) for o in orders
        }
        return {
            "orders": orders,
            "histories": histories,
            "fills": await store.fills(limit=10_000),
            "positions": await store.positions(),
            "timeline": await store.position_timeline(limit=10_000),
            "balances": await store.balances(),
            "drift": await store.drift(limit=10_000),
            "alerts": await store.alerts(),
            "counts": await store.counts(),
        }


async def test_feed_records_every_order_with_its_state(fed) -> None:
    engine, database, feed = fed
    oms = await _read(database)
    cached = {o.client_order_id.value: o for o in engine.cache.orders()}
    assert feed.errors == 0
    assert len(cached) >= 5
    assert {o.client_order_id for o in oms["orders"]} == set(cached)
    for row in oms["orders"]:
        order = cached[row.client_order_id]
        assert row.status == order.status_string()
        assert row.quantity == float(order.quantity.as_decimal())
        assert row.filled_qty == float(order.filled_qty.as_decimal())
        assert row.side == order.side_string()
        assert row.instrument_id == order.instrument_id.value
        assert row.sequence == order.event_count
        assert row.created_at == order.ts_init
        assert row.operation_id is not None and row.operation_id.startswith("op-")


async def test_feed_keeps_each_orders_whole_status_history(fed) -> None:
    engine, database, _ = fed
    oms = await _read(database)
    for order in engine.cache.orders():
        history = oms["histories"][order.client_order_id.value]
        assert [e.event_id for e in history] == [e.id.value for e in order.events]
        assert [e.event_type for e in history] == [
            type(e).__name__.removeprefix("Order").upper() for e in order.events
        ]
        assert [e.sequence for e in history] == list(range(1, order.event_count + 1))
        assert history[0].status == "INITIALIZED"
        assert history[-1].status == order.status_string()
    statuses = {o.status for o in oms["orders"]}
    assert {"FILLED", "DENIED"} <= statuses
    denied = [o for o in oms["orders"] if o.status == "DENIED"]
    assert [e.event_type for e in oms["histories"][denied[0].client_order_id]] == [
        "INITIALIZED",
        "DENIED",
    ]
    assert "NOTIONAL_EXCEEDS_MAX_PER_ORDER" in denied[0].reason


async def test_feed_records_every_fill_once(fed) -> None:
    engine, database, _ = fed
    oms = await _read(database)
    expected = {
        (e.trade_id.value, e.client_order_id.value): e
        for order in engine.cache.orders()
        for e in order.events
        if isinstance(e, OrderFilled)
    }
    assert len(oms["fills"]) == len(expected) > 0
    for fill in oms["fills"]:
        event = expected[(fill.trade_id, fill.client_order_id)]
        assert fill.quantity == float(event.last_qty.as_decimal())
        assert fill.price == float(event.last_px.as_decimal())
        assert fill.commission == float(event.commission.as_decimal())
        assert fill.ts_event == event.ts_event
        assert fill.decision_price is not None
    assert len(oms["drift"]) == len(expected)  # every order carries its decision price
    for drift in oms["drift"]:
        assert drift.reference == "decision"
        assert drift.over_threshold == (abs(drift.drift_bps) > DRIFT_THRESHOLD_BPS)
    assert {d.over_threshold for d in oms["drift"]} == {True, False}


async def test_feed_records_positions_balances_and_denials(fed) -> None:
    engine, database, _ = fed
    oms = await _read(database)
    positions = {p.id.value: p for p in engine.cache.positions()}
    assert {p.position_id for p in oms["positions"]} == set(positions)
    for row in oms["positions"]:
        position = positions[row.position_id]
        assert row.quantity == float(position.quantity.as_decimal())
        assert row.side == position.side.name
    # one position event per fill: opened, changed, ..., closed
    assert len(oms["timeline"]) == len(oms["fills"])
    assert {"OPENED", "CHANGED", "CLOSED"} <= {s.event_type for s in oms["timeline"]}
    closed = [p for p in engine.cache.positions() if p.is_closed]
    assert closed, "the schedule should close at least one position"
    account = engine.cache.accounts()[0]
    balances = {b.currency: b for b in oms["balances"]}
    for currency, balance in account.balances().items():
        assert balances[currency.code].total == float(balance.total.as_decimal())
    assert "USDT" in balances
    denied = [o for o in engine.cache.orders() if o.status_string() == "DENIED"]
    assert [a.rule for a in oms["alerts"]] == ["order_denied"] * len(denied)
    assert oms["counts"]["order_events"] == sum(o.event_count for o in engine.cache.orders())


def test_trading_state_change_becomes_an_alert() -> None:
    event = TradingStateChanged(
        trader_id=TraderId("TRADER-001"),
        state=TradingState.HALTED,
        config={},
        event_id=UUID4(),
        ts_event=123,
        ts_init=123,
    )
    alert = trading_state_alert(event)
    assert (alert.rule, alert.severity, alert.message) == (
        "trading_state",
        "CRITICAL",
        "trading state HALTED",
    )
    assert alert.alert_id == event.id.value
    assert alert.details == {"state": "HALTED"}
