"""``NautilusLiveEngine``: a real node on the test's event loop, SHADOW on REPLAY, no network.

What is checked is what the console depends on: the node runs on the caller's loop and leaves
it (and its signal handling) as it found it, it reports honestly whether it is connected, the
sandbox fills a rebalance as the backtest's fill rule does, and LIVE cannot start by accident.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import polars as pl
import pytest
from nautilus_trader.adapters.binance.config import (
    BinanceDataClientConfig,
    BinanceExecClientConfig,
)
from nautilus_trader.config import LiveExecEngineConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import AccountType, OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Currency
from nautilus_trader.model.orders import Order

from core.backtest.nautilus_setup import logging_config
from core.config import (
    AppConfig,
    BacktestConfig,
    DataConfig,
    LoggingConfig,
    NodeConfig,
    VenueConfig,
    validate,
)
from core.data.ticks import TickReader
from core.errors import ConfigError
from core.execution.strategy import NautilusRebalanceStrategy, NautilusRebalanceStrategyConfig
from core.live.node import NautilusLiveEngine
from core.live.replay_client import (
    ReplayDataClient,
    ReplayDataClientConfig,
    ReplayDataClientFactory,
)
from core.live.venues import (
    DeskSandboxExecutionClient,
    add_sandbox,
    sandbox_exec_config,
    venue_data_client,
    venue_exec_client,
)

INSTRUMENTS = ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE")  # conftest's demo data
TICK = 0.01  # both instruments' tick size in the demo data
DAY_START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
TARGETS = {"BTCUSDT.BINANCE": 0.5, "ETHUSDT.BINANCE": 0.3}
KEYS = {
    "BINANCE_API_KEY": "key-b",
    "BINANCE_API_SECRET": "secret-b",
    "BYBIT_API_KEY": "key-y",
    "BYBIT_API_SECRET": "secret-y",
    "OKX_API_KEY": "key-o",
    "OKX_API_SECRET": "secret-o",
    "OKX_API_PASSPHRASE": "pass-o",
}
EngineFactory = Callable[..., NautilusLiveEngine]


def _ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def _config(
    data_root: str,
    log_dir: Path,
    venues: Sequence[VenueConfig] = (VenueConfig(),),
    **node: object,
) -> AppConfig:
    return validate(
        AppConfig(
            data=DataConfig(root=data_root),
            logging=LoggingConfig(directory=str(log_dir)),
            backtest=BacktestConfig(instruments=INSTRUMENTS),
            venues=tuple(venues),
            node=NodeConfig(**node),  # type: ignore[arg-type]
        ),
        "test",
    )


def _window(start: dt.datetime, end: dt.datetime) -> dict[str, object]:
    return {"replay_start": start.isoformat(), "replay_end": end.isoformat()}


@pytest.fixture
async def make_engine(log_dir: Path) -> AsyncIterator[EngineFactory]:
    """Build engines on the test's loop; every one is stopped at the end of the test."""
    engines: list[NautilusLiveEngine] = []

    def make(config: AppConfig, **options: object) -> NautilusLiveEngine:
        engine = NautilusLiveEngine(config, asyncio.get_running_loop(), **options)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.stop()


def _strategy() -> NautilusRebalanceStrategy:
    return NautilusRebalanceStrategy(NautilusRebalanceStrategyConfig(instrument_ids=INSTRUMENTS))


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def _fills(order: Order) -> list[tuple[float, float, int]]:
    return [
        (event.last_qty.as_double(), event.last_px.as_double(), event.ts_event)
        for event in order.events
        if isinstance(event, OrderFilled)
    ]


def _last_trade_at(data_root: str, instrument_id: str, moment: dt.datetime) -> tuple[float, float]:
    """Price and size of the last recorded trade at or before ``moment``."""
    table = TickReader(data_root).read_window(
        instrument_id, moment - dt.timedelta(hours=1), moment + dt.timedelta(microseconds=1)
    )
    last = pl.from_arrow(table).row(-1, named=True)
    return last["price"], last["size"]


async def test_node_runs_on_the_callers_loop_and_stops_without_disposing_it(
    demo_root: str, log_dir: Path, make_engine: EngineFactory
) -> None:
    venue = VenueConfig(starting_balances=("25000 USDT",))
    config = _config(
        demo_root,
        log_dir,
        venues=(venue,),
        replay_speed=0.0,
        **_window(DAY_START, DAY_START + dt.timedelta(hours=1)),
    )
    engine = make_engine(config)
    bystander = asyncio.create_task(asyncio.sleep(0.5, result="still here"))
    assert engine.state().node_state == "STOPPED"

    state = await engine.start()
    assert state.node_state == "RUNNING", state.error
    assert state.connected and state.kernel_running and state.trader_running
    assert state.data_clients == {"REPLAY": True} and state.exec_clients == {"BINANCE": True}
    account = engine.node.portfolio.account(Venue("BINANCE"))
    assert account is not None and account.type == AccountType.CASH
    assert account.balance_total(Currency.from_str("USDT")).as_double() == 25_000.0
    status = state.to_node_status(ts_event=123, equity=25_000.0)
    assert (status.mode, status.venues, status.node_state) == ("SHADOW", ("BINANCE",), "RUNNING")
    assert (status.data_feed, status.venue_connection, status.trading_state) == (
        "OK",
        "OK",
        "ACTIVE",
    )
    assert engine.replay is not None
    await asyncio.wait_for(engine.replay.done.wait(), timeout=10)
    assert engine.state().data_feed == "STALE"  # the replay ran out of data: quiet, not down

    await engine.stop()
    assert engine.state().node_state == "STOPPED"
    assert not engine.node.kernel.is_running()
    assert asyncio.get_running_loop().is_running()
    assert await bystander == "still here"  # node.dispose() would have cancelled it
    await engine.stop()  # a second stop is harmless


def _trades_after(data_root: str, instrument_id: str, moment: dt.datetime) -> pl.DataFrame:
    """The recorded trades strictly after ``moment`` (half an hour of them), in print order."""
    table = TickReader(data_root).read_window(
        instrument_id, moment + dt.timedelta(microseconds=1), moment + dt.timedelta(minutes=30)
    )
    return pl.from_arrow(table)


async def test_shadow_market_orders_fill_from_the_trades_printed_after_they_were_sent(
    demo_root: str, log_dir: Path, make_engine: EngineFactory
) -> None:
    # The default fill model in the sandbox, as in a backtest: each order takes, in print
    # order, the trades after it whose aggressor was on its side, until it is filled.
    moment = DAY_START + dt.timedelta(hours=10)
    config = _config(
        demo_root,
        log_dir,
        replay_speed=0.0,
        **_window(moment - dt.timedelta(seconds=30), moment + dt.timedelta(minutes=30)),
    )
    engine = make_engine(config)
    strategy = _strategy()
    engine.add_strategy(strategy)

    async def rebalance() -> None:
        # The replay waits until the venue has the orders (the live execution engine queues
        # them), then goes on: they need the trades after them to fill.
        strategy.apply_targets(TARGETS, "op-1")
        orders = engine.node.cache.orders
        await _until(
            lambda: len(orders()) == 2 and all(o.status_string() == "ACCEPTED" for o in orders())
        )

    assert engine.replay is not None
    done = engine.replay.at_recorded_time(_ns(moment), rebalance)
    state = await engine.start()
    assert state.node_state == "RUNNING", state.error
    assert await asyncio.wait_for(done, timeout=10) is True
    orders = engine.node.cache.orders
    await _until(lambda: len(orders()) == 2 and all(order.is_closed for order in orders()), 10)

    for order in orders():
        assert order.status_string() == "FILLED"
        side = "BUY" if order.side == OrderSide.BUY else "SELL"
        later = _trades_after(demo_root, str(order.instrument_id), moment)
        expected: list[tuple[float, float]] = []
        left = order.quantity.as_double()
        for trade in later.filter(pl.col("side") == side).iter_rows(named=True):
            take = min(trade["size"], left)
            expected.append((take, trade["price"]))
            left -= take
            if left < 1e-12:
                break
        got = [(qty, px) for qty, px, _ in _fills(order)]
        assert len(got) > 1  # larger than the first trade after it: it waited for more
        assert [v for fill in got for v in fill] == pytest.approx([v for f in expected for v in f])


@pytest.mark.parametrize("speed", [0.0, 60.0])
async def test_legacy_fill_model_fills_the_rest_of_a_market_order_one_tick_worse_at_once(
    demo_root: str, log_dir: Path, make_engine: EngineFactory, speed: float
) -> None:
    moment = DAY_START + dt.timedelta(hours=10)
    config = _config(
        demo_root,
        log_dir,
        venues=(VenueConfig(fill_model="last_trade_then_one_tick"),),
        replay_speed=speed,
        **_window(moment - dt.timedelta(seconds=30), moment + dt.timedelta(seconds=30)),
    )
    engine = make_engine(config)
    strategy = _strategy()
    engine.add_strategy(strategy)

    async def rebalance() -> None:
        # The replay waits while the orders fill, as a backtest's clock would.
        strategy.apply_targets(TARGETS, "op-1")
        orders = engine.node.cache.orders
        await _until(lambda: len(orders()) == 2 and all(order.is_closed for order in orders()))

    assert engine.replay is not None
    done = engine.replay.at_recorded_time(_ns(moment), rebalance)
    state = await engine.start()
    assert state.node_state == "RUNNING", state.error
    assert await asyncio.wait_for(done, timeout=10) is True

    orders = {str(order.instrument_id): order for order in engine.node.cache.orders()}
    assert set(orders) == set(INSTRUMENTS)
    for instrument_id, order in orders.items():
        price, size = _last_trade_at(demo_root, instrument_id, moment)
        quantity = order.quantity.as_double()
        assert quantity > size  # larger than the last trade: the case Nautilus's sandbox leaves
        assert order.status_string() == "FILLED"
        fills = _fills(order)
        got = [value for qty, px, _ in fills for value in (qty, px)]
        assert got == pytest.approx([size, price, quantity - size, price + TICK])
        assert fills[0][2] == fills[1][2]  # the rest fills at once, as in the backtest
        assert f"decision_price={price!r}" in order.tags


async def test_nautilus_sandbox_alone_leaves_the_rest_of_a_market_order_open(
    demo_root: str, log_dir: Path
) -> None:
    """Why ``route_order_events_inline`` exists: the same sandbox with the live event queue.

    If Nautilus ever applies order events before its matching engine checks them, this test
    fails, and the workaround can go.
    """
    moment = DAY_START + dt.timedelta(hours=10)
    loop = asyncio.get_running_loop()
    previous_sigint = signal.getsignal(signal.SIGINT)
    node = TradingNode(
        TradingNodeConfig(
            trader_id="QUEUED-001",
            logging=logging_config(log_dir, "queued", "INFO"),
            exec_engine=LiveExecEngineConfig(reconciliation=False),
            data_clients={
                "REPLAY": ReplayDataClientConfig(
                    data_root=demo_root,
                    instrument_ids=INSTRUMENTS,
                    start_ns=_ns(moment - dt.timedelta(seconds=30)),
                    end_ns=_ns(moment + dt.timedelta(seconds=30)),
                    speed=0.0,
                    start_on_connect=True,
                )
            },
            timeout_post_stop=0.1,
        ),
        loop=loop,
    )
    signal.signal(signal.SIGINT, previous_sigint)  # what NautilusLiveEngine does for us
    node.add_data_client_factory("REPLAY", ReplayDataClientFactory)
    node.build()
    legacy = VenueConfig(fill_model="last_trade_then_one_tick")  # Nautilus's matching engine
    add_sandbox(node, sandbox_exec_config(legacy, latency_ns=0))
    strategy = _strategy()
    node.trader.add_strategy(strategy)
    replay = node.kernel.data_engine._clients[next(iter(node.kernel.data_engine._clients))]
    assert isinstance(replay, ReplayDataClient)

    async def rebalance() -> None:
        strategy.apply_targets(TARGETS, "op-1")
        await asyncio.sleep(0.3)

    done = replay.at_recorded_time(_ns(moment), rebalance)
    task = loop.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(done, timeout=10) is True
        statuses = sorted(order.status_string() for order in node.cache.orders())
        assert statuses == ["PARTIALLY_FILLED", "PARTIALLY_FILLED"]
    finally:
        await node.stop_async()
        node.kernel.dispose()
        await asyncio.wait_for(task, timeout=5)


async def test_the_callers_signal_handlers_survive_the_node(
    demo_root: str, log_dir: Path, make_engine: EngineFactory
) -> None:
    loop = asyncio.get_running_loop()
    calls: list[str] = []
    previous_sigint = signal.signal(signal.SIGINT, lambda *_: calls.append("SIGINT"))
    loop.add_signal_handler(signal.SIGTERM, calls.append, "SIGTERM")
    try:
        config = _config(
            demo_root, log_dir, **_window(DAY_START, DAY_START + dt.timedelta(minutes=10))
        )
        engine = make_engine(config)
        assert (await engine.start()).node_state == "RUNNING"
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        await _until(lambda: len(calls) == 2)
        await asyncio.sleep(0.05)
        assert sorted(calls) == ["SIGINT", "SIGTERM"]
        assert engine.state().node_state == "RUNNING"  # the kernel's handlers would stop it
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGINT, previous_sigint)


async def test_live_mode_without_confirmation_is_refused(demo_root: str, log_dir: Path) -> None:
    config = _config(demo_root, log_dir, mode="live", source="venue")
    with pytest.raises(ConfigError, match=r"LIVE sends real orders.*--confirm-live"):
        NautilusLiveEngine(config, asyncio.get_running_loop(), environ=KEYS)


async def test_live_mode_on_replayed_data_is_refused(demo_root: str, log_dir: Path) -> None:
    config = _config(demo_root, log_dir, mode="live", source="replay", confirm_live=True)
    with pytest.raises(ConfigError, match=r"node\.source"):
        NautilusLiveEngine(config, asyncio.get_running_loop(), environ=KEYS)


async def test_missing_api_key_is_refused_naming_its_variable(
    demo_root: str, log_dir: Path
) -> None:
    config = _config(demo_root, log_dir, mode="shadow", source="venue")
    keys = {name: value for name, value in KEYS.items() if name != "BINANCE_API_SECRET"}
    with pytest.raises(ConfigError, match=r"environment variable BINANCE_API_SECRET$"):
        NautilusLiveEngine(
            config, asyncio.get_running_loop(), mode="live", confirm_live=True, environ=keys
        )


async def test_live_node_builds_the_venues_clients_from_environment_keys(
    demo_root: str, log_dir: Path, make_engine: EngineFactory
) -> None:
    # Built, never started: no network. Keys reach the clients from the environment only.
    config = _config(demo_root, log_dir, mode="live", source="venue", confirm_live=True)
    engine = make_engine(config, environ=KEYS)
    state = engine.state()
    assert (state.mode, state.source, state.node_state) == ("LIVE", "venue", "STOPPED")
    assert state.data_clients == {"BINANCE": False} and state.exec_clients == {"BINANCE": False}
    assert state.venue_connection == "DOWN" and not state.connected


async def test_shadow_on_venue_data_pairs_the_venues_data_with_the_desk_sandbox(
    demo_root: str, log_dir: Path, make_engine: EngineFactory
) -> None:
    config = _config(demo_root, log_dir, mode="shadow", source="venue")
    engine = make_engine(config, environ={})  # public market data needs no key
    clients = engine.node.kernel.exec_engine._clients
    assert [type(client) for client in clients.values()] == [DeskSandboxExecutionClient]
    assert engine.replay is None
    assert engine.state().data_clients == {"BINANCE": False}


@pytest.mark.parametrize(
    ("kind", "data_class", "exec_class", "keys"),
    [
        ("binance-spot", "BinanceDataClientConfig", "BinanceExecClientConfig", ("key-b",)),
        ("binance-futures", "BinanceDataClientConfig", "BinanceExecClientConfig", ("key-b",)),
        ("bybit", "BybitDataClientConfig", "BybitExecClientConfig", ("key-y",)),
        ("okx", "OKXDataClientConfig", "OKXExecClientConfig", ("key-o", "pass-o")),
    ],
)
def test_venue_client_configs_build_with_keys_from_the_environment(
    kind: str, data_class: str, exec_class: str, keys: tuple[str, ...]
) -> None:
    data = venue_data_client(kind, ["BTCUSDT.BINANCE"], environ={})
    assert type(data.config).__name__ == data_class
    assert data.config.api_key is None  # market data without keys
    live = venue_exec_client(kind, ["BTCUSDT.BINANCE"], environ=KEYS)
    assert type(live.config).__name__ == exec_class
    assert live.config.api_key == keys[0]
    if kind == "okx":
        assert live.config.api_passphrase == keys[1]
    if kind.startswith("binance"):
        assert isinstance(live.config, BinanceExecClientConfig)
        assert isinstance(data.config, BinanceDataClientConfig)
        expected = "SPOT" if kind == "binance-spot" else "USDT_FUTURES"
        assert live.config.account_type.value == expected


def test_ibkr_without_its_optional_dependency_says_what_to_install() -> None:
    try:
        import ibapi  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"ibkr needs ibapi: uv add 'nautilus_trader\[ib\]'"):
            venue_data_client("ibkr", ["AAPL.NASDAQ"], environ={})
    else:
        spec = venue_exec_client("ibkr", ["AAPL.NASDAQ"], environ={"TWS_ACCOUNT": "DU123"})
        assert spec.config.account_id == "DU123"
