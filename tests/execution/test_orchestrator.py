"""The orchestrator with the smart order router on: real backtests and a real shadow node over
two venues that trade the same asset.

The demo data gains a second venue: ``BTCUSDT.BYBIT``, the same BTC trades as
``BTCUSDT.BINANCE`` (so fills are comparable) with a 4 bps taker fee against Binance's 10.
Signals name only the Binance instruments; with routing on, BTC is one asset held on two
venues, and its orders should go where they cost least. Each venue starts with 100,000 USDT.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from console_seed import column, config_for, fixed_clock, wait_for
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.core.datetime import dt_to_unix_nanos
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AccountType, AggressorSide, OmsType
from nautilus_trader.model.identifiers import TradeId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from node_helpers import node_config
from run_helpers import backtest_orders, parity_config, shadow_orders
from textual.pilot import Pilot

from console.app import TradeConsoleApp
from console.widgets.orders_pane import OrdersPane
from core.backtest.catalog import write_trade_ticks
from core.backtest.pipeline import run_backtest
from core.config import AppConfig, RoutingConfig, VenueConfig, load_config
from core.data.instrument_specs import load_instrument_specs
from core.data.layout import INSTRUMENT_SCHEMA, INSTRUMENTS_DIR, TRADES_DIR
from core.data.nautilus_instruments import to_nautilus_instrument
from core.data.ticks import TickReader
from core.execution.routing import quantity_text
from core.execution.strategy import (
    NautilusRebalanceStrategy,
    NautilusRebalanceStrategyConfig,
    ScheduledTargets,
)
from core.live.session import NodeSession
from core.oms import OmsStore, OrderEvent, RiskAlert, RoutedOrder

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

WINDOW = ("2026-01-05T00:00:00Z", "2026-01-05T04:00:00Z")
INSTRUMENTS = ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE", "BTCUSDT.BYBIT")
BYBIT_TAKER_FEE = 0.0004


def add_second_venue(demo_root: str, target: Path) -> str:
    """A copy of the demo data where BTCUSDT also trades on BYBIT (same trades, lower fee)."""
    shutil.copytree(demo_root, target)
    for day in (target / INSTRUMENTS_DIR).iterdir():
        path = day / "instruments.parquet"
        rows = pq.read_table(path).to_pylist()
        btc = next(row for row in rows if row["instrument_id"] == "BTCUSDT.BINANCE")
        bybit = {**btc, "instrument_id": "BTCUSDT.BYBIT", "venue": "BYBIT"}
        bybit |= {"taker_fee": BYBIT_TAKER_FEE, "maker_fee": BYBIT_TAKER_FEE / 2}
        pq.write_table(pa.Table.from_pylist([*rows, bybit], schema=INSTRUMENT_SCHEMA), path)
    for day in (target / TRADES_DIR).iterdir():
        trades = day / "data_type-trades"
        shutil.copyfile(trades / "BTCUSDT.BINANCE.parquet", trades / "BTCUSDT.BYBIT.parquet")
    return str(target)


@pytest.fixture(scope="module")
def two_venue_root(demo_root: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return add_second_venue(demo_root, tmp_path_factory.mktemp("two-venues") / "data")


def routed_config(
    config_writer,
    tmp_path: Path,
    data_root: str,
    *,
    enabled: bool = True,
    participation: float = 1.0,
    window_secs: float = 3600.0,
    extra: str = "",
) -> AppConfig:
    routing = (
        f"\n[routing]\nenabled = {'true' if enabled else 'false'}\n"
        f"max_participation = {participation}\nliquidity_window_secs = {window_secs}\n"
    )
    path = config_writer(
        tmp_path / "config.toml",
        data_root=data_root,
        results_root=str(tmp_path / "results"),
        backtest={
            "start": WINDOW[0],
            "end": WINDOW[1],
            "targets": "signals",
            "instruments": list(INSTRUMENTS),
        },
        venues=[{"name": "BINANCE", "latency_ms": 0.0}, {"name": "BYBIT", "latency_ms": 0.0}],
        oms={"database": str(tmp_path / "oms.sqlite")},
        extra=routing + extra,
    )
    return load_config(path)


@asynccontextmanager
async def orders_pane_after_backtest(config: AppConfig) -> AsyncIterator[tuple[Pilot, OrdersPane]]:
    """The console at 80x24 over the OMS a backtest of ``config`` wrote, its Orders pane filled."""
    outcome = await asyncio.to_thread(run_backtest, config)
    assert outcome.status == "COMPLETED", outcome.error
    async with await OmsStore.open(config.oms.database) as store:
        app = TradeConsoleApp(config_for(store.path), store=store, clock=fixed_clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(
                pilot,
                lambda: (
                    app.dashboard is not None
                    and app.dashboard.query_one(OrdersPane).data is not None
                ),
            )
            assert app.dashboard is not None
            yield pilot, app.dashboard.query_one(OrdersPane)


def oms_rows(database: str) -> tuple[list[OrderEvent], dict[str, RoutedOrder]]:
    async def read() -> tuple[list[OrderEvent], dict[str, RoutedOrder]]:
        async with await OmsStore.open(database, read_only=True) as store:
            orders = await store.orders(limit=1_000)
            return orders, await store.routes([o.client_order_id for o in orders])

    return asyncio.run(read())


def test_router_sends_btc_to_the_cheaper_venue_and_explains_it_in_the_oms(
    config_writer, tmp_path: Path, two_venue_root: str
) -> None:
    config = routed_config(config_writer, tmp_path, two_venue_root)
    outcome = run_backtest(config)
    assert outcome.status == "COMPLETED", outcome.error
    orders, routes = oms_rows(config.oms.database)
    btc = [o for o in orders if o.instrument_id.startswith("BTCUSDT.")]
    eth = [o for o in orders if o.instrument_id.startswith("ETHUSDT.")]
    assert len(btc) >= 2 and eth, "the window must hold several BTC and ETH orders"
    assert {o.instrument_id for o in btc} == {"BTCUSDT.BYBIT"}
    assert {o.status for o in orders} == {"FILLED"}
    # Every order has its decision, written before it was sent.
    assert set(routes) == {o.client_order_id for o in orders}
    for order in btc:
        route = routes[order.client_order_id]
        assert (route.venue, route.quantity) == ("BYBIT", order.quantity)
        assert [c["venue"] for c in route.candidates] == ["BYBIT", "BINANCE"]
        assert [c["total_bps"] for c in route.candidates] == pytest.approx([4.0, 10.0])
        assert "-> BYBIT at 4.00 bps (fee 4.00 + latency 0.00); vs BINANCE 10.00" in (
            route.explanation
        )
    for order in eth:
        assert routes[order.client_order_id].venue == "BINANCE"


def test_a_latency_penalty_sends_btc_back_to_binance(
    config_writer, tmp_path: Path, two_venue_root: str
) -> None:
    config = routed_config(
        config_writer,
        tmp_path,
        two_venue_root,
        extra="\n[routing.venues.BYBIT]\nlatency_penalty_bps = 7.5\n",
    )
    outcome = run_backtest(config)
    assert outcome.status == "COMPLETED", outcome.error
    orders, routes = oms_rows(config.oms.database)
    btc = [o for o in orders if o.instrument_id.startswith("BTCUSDT.")]
    assert btc and {o.instrument_id for o in btc} == {"BTCUSDT.BINANCE"}
    assert all("vs BYBIT 11.50" in routes[o.client_order_id].explanation for o in btc)


def test_routing_off_trades_each_instrument_on_its_own_venue_and_writes_no_route(
    config_writer, tmp_path: Path, two_venue_root: str
) -> None:
    config = routed_config(config_writer, tmp_path, two_venue_root, enabled=False)
    outcome = run_backtest(config)
    assert outcome.status == "COMPLETED", outcome.error
    orders, routes = oms_rows(config.oms.database)
    assert orders and {o.instrument_id for o in orders} <= {"BTCUSDT.BINANCE", "ETHUSDT.BINANCE"}
    assert routes == {}


async def test_orders_pane_shows_each_order_s_route_and_the_explanation_at_80x24(
    config_writer, tmp_path: Path, two_venue_root: str
) -> None:
    config = routed_config(config_writer, tmp_path, two_venue_root)
    async with orders_pane_after_backtest(config) as (pilot, pane):
        instruments = column(pane.table, "instrument")
        routes = column(pane.table, "route")
        for instrument, route in zip(instruments, routes, strict=True):
            expected = "BYBIT 4.00 < BINANCE 10.00" if "BTC" in instrument else "BINANCE"
            assert route.startswith(expected), (instrument, route)
        first = pane.data[0].route
        await wait_for(pilot, lambda: pane.route_line == first.explanation)
        assert pane.query_one("#route-line").region.width <= 80
        pane.table.focus()
        btc_row = next(i for i, name in enumerate(instruments) if "BTC" in name)
        pane.table.move_cursor(row=btc_row)
        await wait_for(pilot, lambda: "-> BYBIT at 4.00 bps" in pane.route_line)


def test_orchestrated_orders_are_the_same_in_backtest_and_shadow(
    config_writer, tmp_path: Path, two_venue_root: str
) -> None:
    # test_parity's node and risk settings (a flat-out replay, no velocity windows), over the
    # two venues with routing on.
    base = parity_config(config_writer, tmp_path, two_venue_root)
    config = msgspec.structs.replace(
        base,
        backtest=msgspec.structs.replace(base.backtest, instruments=INSTRUMENTS),
        venues=(
            VenueConfig(name="BINANCE", latency_ms=0.0),
            VenueConfig(name="BYBIT", latency_ms=0.0),
        ),
        # A low participation limit: splits too must come out the same on both sides. The
        # window spans the whole replay: flat out, the node's clock crosses the 12 recorded
        # hours in about a second, so a shorter window would hold more trades on the node than
        # in the backtest (as velocity windows would; see test_parity).
        routing=RoutingConfig(enabled=True, max_participation=0.01, liquidity_window_secs=86_400),
    )
    backtest = backtest_orders(config)
    shadow_config = msgspec.structs.replace(
        config, oms=msgspec.structs.replace(config.oms, database=str(tmp_path / "shadow.sqlite"))
    )
    shadow = asyncio.run(shadow_orders(shadow_config))
    assert len(backtest) >= 4, "the window must hold several rebalances"
    btc_venues = {key[0]: set() for key in backtest}
    for operation_id, instrument in backtest:
        if instrument.startswith("BTCUSDT."):
            btc_venues[operation_id].add(instrument)
    assert {"BTCUSDT.BINANCE", "BTCUSDT.BYBIT"} in btc_venues.values(), "no split in the window"
    assert shadow.keys() == backtest.keys()
    for key, (side, quantity, vwap) in backtest.items():
        assert shadow[key][0] == side, key
        assert shadow[key][1] == pytest.approx(quantity, rel=1e-9), key
        assert shadow[key][2] == pytest.approx(vwap, rel=1e-9), key


def test_thin_recent_volume_splits_btc_across_both_venues_and_every_leg_fills(
    config_writer, tmp_path: Path, two_venue_root: str
) -> None:
    config = routed_config(
        config_writer, tmp_path, two_venue_root, participation=0.05, window_secs=300.0
    )
    outcome = run_backtest(config)
    assert outcome.status == "COMPLETED", outcome.error
    orders, routes = oms_rows(config.oms.database)
    splits: dict[str, list[RoutedOrder]] = {}
    for route in routes.values():
        if route.quantity < route.parent_quantity:
            splits.setdefault(route.decision_id, []).append(route)
    assert splits, "some BTC order must be too large for BYBIT's recent volume"
    for legs in splits.values():
        assert [leg.venue for leg in sorted(legs, key=lambda leg: leg.venue)] == [
            "BINANCE",
            "BYBIT",
        ]
        assert sum(leg.quantity for leg in legs) == pytest.approx(legs[0].parent_quantity)
        assert " split BYBIT " in legs[0].explanation
    assert {o.status for o in orders} == {"FILLED"}


# -- venue rejects --------------------------------------------------------------------------


def rejecting_bybit_run(
    data_root: str, scratch: Path, instrument_ids: tuple[str, ...], routing: RoutingConfig
) -> tuple[NautilusRebalanceStrategy, list[object]]:
    """A real engine where BYBIT's book never sees a trade: the strategy is handed a BYBIT
    price through its cache, so the router may choose BYBIT, and the simulated exchange then
    rejects the order (``no market for BTCUSDT.BYBIT``), as a venue refuses an order."""
    start = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    end = start + dt.timedelta(hours=1)
    specs = load_instrument_specs(data_root, start.date())
    instruments = {key: to_nautilus_instrument(specs[key]) for key in instrument_ids}
    catalog = ParquetDataCatalog(str(scratch))
    binance = instruments["BTCUSDT.BINANCE"]
    write_trade_ticks(
        catalog, binance, TickReader(data_root).read_window(binance.id.value, start, end)
    )
    logging = LoggingConfig(log_level="OFF", bypass_logging=True)
    engine = BacktestEngine(BacktestEngineConfig(logging=logging, run_analysis=False))
    for name in ("BINANCE", "BYBIT"):
        engine.add_venue(
            venue=Venue(name),
            oms_type=OmsType.NETTING,
            account_type=AccountType.CASH,
            base_currency=None,
            starting_balances=[Money.from_str("100000 USDT")],
        )
    for instrument in instruments.values():
        engine.add_instrument(instrument)
    engine.add_data(catalog.query(TradeTick))
    bybit = instruments["BTCUSDT.BYBIT"]
    engine.cache.add_trade_tick(
        TradeTick(
            bybit.id,
            bybit.make_price(94_000.0),
            bybit.make_qty(1.0),
            AggressorSide.BUYER,
            TradeId("seen-elsewhere"),
            dt_to_unix_nanos(start),
            dt_to_unix_nanos(start),
        )
    )
    strategy = NautilusRebalanceStrategy(
        NautilusRebalanceStrategyConfig(
            strategy_id="REBAL-001", instrument_ids=instrument_ids, routing=routing
        )
    )
    # BYBIT's liquidity as another feed saw it: deep enough to take the whole order.
    strategy.orchestrator.tracker.on_trade("BTCUSDT.BYBIT", dt_to_unix_nanos(start), 1_000.0)
    records: list[object] = []
    strategy.alert = records.append
    at = dt_to_unix_nanos(start + dt.timedelta(minutes=10))
    strategy.schedule_targets([ScheduledTargets(at, "op-1", {instrument_ids[0]: 0.2})])
    engine.add_strategy(strategy)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine.run(start=start, end=end)
        orders = {o.client_order_id.value: o.status_string() for o in engine.cache.orders()}
        records.append(orders)
    finally:
        engine.dispose()
    return strategy, records


def test_a_venue_reject_before_any_fill_is_rerouted_once_to_the_next_cheapest_venue(
    tmp_path: Path, two_venue_root: str
) -> None:
    routing = RoutingConfig(enabled=True, max_participation=1.0, liquidity_window_secs=3600)
    _, records = rejecting_bybit_run(
        two_venue_root, tmp_path, ("BTCUSDT.BINANCE", "BTCUSDT.BYBIT"), routing
    )
    statuses = records[-1]
    routed = [r for r in records if isinstance(r, RoutedOrder)]
    assert [(r.venue, r.rerouted_from) for r in routed] == [
        ("BYBIT", None),
        ("BINANCE", routed[0].client_order_id),
    ]
    assert statuses == {routed[0].client_order_id: "REJECTED", routed[1].client_order_id: "FILLED"}
    assert routed[1].explanation.startswith(f"BUY {quantity_text(routed[0].quantity)} rerouted ")
    assert "BYBIT -> BINANCE at 10.00 bps after a reject (no market for BTCUSDT.BYBIT)" in (
        routed[1].explanation
    )
    assert not [r for r in records if isinstance(r, RiskAlert)]


def test_a_venue_reject_that_cannot_be_rerouted_raises_an_error_alert(
    tmp_path: Path, two_venue_root: str
) -> None:
    # Routing off: the order goes to its own venue (BYBIT here) and nothing may move it.
    _, records = rejecting_bybit_run(
        two_venue_root, tmp_path, ("BTCUSDT.BYBIT", "BTCUSDT.BINANCE"), RoutingConfig()
    )
    statuses = records[-1]
    assert list(statuses.values()) == ["REJECTED"]
    alerts = [r for r in records if isinstance(r, RiskAlert)]
    assert [(a.severity, a.rule, a.instrument_id) for a in alerts] == [
        ("ERROR", "venue_reject", "BTCUSDT.BYBIT")
    ]
    assert alerts[0].message.endswith(
        "rejected by BYBIT: no market for BTCUSDT.BYBIT; not rerouted (routing is off)"
    )
    assert not [r for r in records if isinstance(r, RoutedOrder)]


NS = 1_000_000_000
TWAP_ABOVE_1000 = (
    '\n[execution]\nalgorithm = "twap"\nalgorithm_above_notional = 1000.0\n'
    "twap_horizon_secs = 120.0\ntwap_interval_secs = 30.0\n"
)
"""Orders of 1,000 USDT and more are worked by a two-minute TWAP, a child every 30 s."""


def test_with_an_execution_algorithm_the_routed_parent_is_worked_on_the_chosen_venue(
    config_writer, tmp_path: Path, two_venue_root: str
) -> None:
    config = routed_config(config_writer, tmp_path, two_venue_root, extra=TWAP_ABOVE_1000)
    outcome = run_backtest(config)
    assert outcome.status == "COMPLETED", outcome.error
    orders, routes = oms_rows(config.oms.database)
    btc_parents = [
        o
        for o in orders
        if o.client_order_id in routes
        and o.instrument_id == "BTCUSDT.BYBIT"
        and o.quantity * (o.decision_price or 0.0) >= 1000.0
    ]
    assert btc_parents, "some BTC order must be large enough for the TWAP"
    for parent in btc_parents:
        children = [
            o for o in orders if o.client_order_id.startswith(f"{parent.client_order_id}-E")
        ]
        assert len(children) >= 2, parent.client_order_id
        assert {child.instrument_id for child in children} == {"BTCUSDT.BYBIT"}
        filled = parent.filled_qty + sum(child.filled_qty for child in children)
        # The primary itself is the last slice (its quantity shrinks to it): what was routed
        # is the decision's quantity. A parent whose instrument is rebalanced again within its
        # two minutes is replaced by the new one (parents never stack): it fills less.
        routed = routes[parent.client_order_id].quantity
        replaced = any(
            0 < other.created_at - parent.created_at < 120 * NS
            for other in orders
            if other.client_order_id in routes
        )
        if replaced:
            assert filled < routed, parent.client_order_id
        else:
            assert filled == pytest.approx(routed, rel=1e-9), parent.client_order_id
        # The children are the algorithm's: only the parent carries a routing decision.
        assert not any(child.client_order_id in routes for child in children)
        # The OMS keeps each child's parent (Nautilus's exec_spawn_id).
        assert {child.parent_order_id for child in children} == {parent.client_order_id}
        assert parent.parent_order_id is None


async def test_orders_pane_shows_an_algorithm_s_children_under_their_parent_at_80x24(
    config_writer, tmp_path: Path, two_venue_root: str
) -> None:
    config = routed_config(config_writer, tmp_path, two_venue_root, extra=TWAP_ABOVE_1000)
    async with orders_pane_after_backtest(config) as (pilot, pane):
        ids = column(pane.table, "order")
        instruments = column(pane.table, "instrument")
        children = [i for i, order_id in enumerate(ids) if order_id.startswith("└ ")]
        assert children, "the TWAP's children must be listed"
        for row in children:
            # Right under its parent (or a sibling): the nearest row above that is no child.
            parent_row = max(i for i in range(row) if not ids[i].startswith("└ "))
            parent_id = ids[parent_row]
            assert ids[row].removeprefix("└ ").startswith(f"{parent_id}-E"), ids[row]
            assert instruments[row].startswith("└ ")
        first = children[0]
        parent_id = ids[max(i for i in range(first) if not ids[i].startswith("└ "))]
        pane.table.focus()
        pane.table.move_cursor(row=first)
        await wait_for(pilot, lambda: pane.route_line.startswith(f"└ child of {parent_id}"))
        # The parent's route explains its children.
        parent = next(r for r in pane.data if r.order.client_order_id == parent_id)
        assert parent.route is not None
        assert pane.route_line == f"└ child of {parent_id}: {parent.route.explanation}"
        assert pane.query_one("#route-line").region.width <= 80


async def test_the_node_builds_vwap_profiles_off_the_loop_before_the_strategy_starts(
    config_writer, tmp_path: Path, demo_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import core.live.session as node_session
    from core.execution.algorithms.vwap import VwapExecAlgorithm

    threads: list[str] = []
    real = node_session.load_profiles

    def spied(*args, **kwargs):  # the real build, noting the thread it runs on
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(node_session, "load_profiles", spied)
    # The replay trades the demo's second day: the first is the profile's history.
    config = node_config(config_writer, tmp_path, demo_root, replay_start="2026-01-06T00:00:00Z")
    execution = msgspec.structs.replace(config.execution, algorithm="vwap")
    config = msgspec.structs.replace(config, execution=execution)
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        try:
            await session.start()
            (vwap,) = [
                a for a in session.engine.exec_algorithms if isinstance(a, VwapExecAlgorithm)
            ]
            profiles = vwap._profiles
            assert set(profiles) == set(session.engine.instrument_ids)
            assert all(len(p) == 86_400 // execution.vwap_bucket_secs for p in profiles.values())
            assert all(sum(p) == pytest.approx(1.0) for p in profiles.values())
            assert threads and threading.main_thread().name not in threads
        finally:
            await session.stop()
