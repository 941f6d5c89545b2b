"""Which Nautilus clients a node runs for each venue and mode, and the desk's sandbox.

LIVE: the venue's own data and execution clients, API keys read from environment variables
only (``CREDENTIALS`` names them: the one place to look), never from the config file.
SHADOW with ``source = "venue"``: the venue's data client (public market data, keys optional)
with the desk's sandbox for fills. SHADOW on REPLAY: ``core.live.replay_client`` with the sandbox.
Adapters are imported only when a venue is used, so a missing optional dependency (IBKR's
``ibapi``) is a one-line ``ConfigError`` saying what to install, not an import crash.

The desk's sandbox (``DeskSandboxExecutionClient``) fills like the backtest venue. With an
honest fill model (the default, ``core.fills``) its orders go to ``TradeFlowExecClient``, the
client a backtest venue uses too; with ``last_trade_then_one_tick`` they go to Nautilus's
simulated exchange, set up as ``core.backtest.nautilus_setup.venue_config``. Nautilus's own
sandbox differs from the latter in two ways:

1. **Partial fills left open.** Its matching engine fills a market order against the last
   trade's size, then fills the rest one tick worse only if the order is *open*
   (``order.is_open``). In a backtest the execution engine applies each order event the
   moment the exchange emits it, so the order is already ACCEPTED / PARTIALLY_FILLED when
   the engine checks. In a live node ``LiveExecutionEngine.process`` puts events on a queue
   drained later, so when the exchange checks, the order is still INITIALIZED (not open) and
   the rest is never filled: PARTIALLY_FILLED forever. ``route_order_events_inline`` makes the
   execution engine apply the sandbox venues' order events as they are emitted, exactly as in
   a backtest (other venues' events keep the live queue).
2. **No latency, a default fill model.** It builds its exchange with ``FillModel()`` and
   ``LatencyModel(0)``. Ours takes the backtest venue's fill model and a latency (live
   nanoseconds): an order waits in the exchange's in-flight queue until then, and a timer
   processes the exchange at its arrival even if no trade comes (as a backtest's clock does).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.backtest.config import FillModelFactory
from nautilus_trader.backtest.engine import SimulatedExchange
from nautilus_trader.backtest.execution_client import BacktestExecClient
from nautilus_trader.backtest.models import LatencyModel, MakerTakerFeeModel
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus, TestClock
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import InstrumentProviderConfig
from nautilus_trader.execution.engine import ExecutionEngine
from nautilus_trader.live.execution_client import LiveExecutionClient
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import account_type_from_str, book_type_from_str, oms_type_from_str
from nautilus_trader.model.events import OrderEvent
from nautilus_trader.model.identifiers import AccountId, ClientId, InstrumentId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.portfolio.base import PortfolioFacade

from core.backtest.nautilus_setup import venue_config
from core.config import VenueConfig
from core.errors import ConfigError
from core.fills.exec_client import TradeFlowExecClient
from core.fills.models import HONEST_MODELS, impact_model

VENUE_KINDS = ("binance-spot", "binance-futures", "bybit", "okx", "ibkr")

CREDENTIALS: Mapping[str, tuple[str, ...]] = {
    "binance-spot": ("BINANCE_API_KEY", "BINANCE_API_SECRET"),
    "binance-futures": ("BINANCE_API_KEY", "BINANCE_API_SECRET"),
    "bybit": ("BYBIT_API_KEY", "BYBIT_API_SECRET"),
    "okx": ("OKX_API_KEY", "OKX_API_SECRET", "OKX_API_PASSPHRASE"),
    # IBKR authenticates at its gateway (TWS / IB Gateway); the node only names the account.
    "ibkr": ("TWS_ACCOUNT",),
}
"""Environment variables holding each venue's secrets, in the order the adapter takes them."""

IBKR_GATEWAY_ENV = ("IB_GATEWAY_HOST", "IB_GATEWAY_PORT")
"""Optional: where the IB gateway listens (default 127.0.0.1 and the adapter's port)."""

_IBKR_INSTALL = "uv add 'nautilus_trader[ib]' (the IBKR adapter needs ibapi)"


@dataclass(frozen=True)
class ClientSpec:
    """One client of a node: its ``TradingNodeConfig`` key, config, and factory.

    The part of ``name`` before the first ``-`` is the factory's name (``SANDBOX-BINANCE`` is
    built by the factory registered as ``SANDBOX``): Nautilus's builder reads it that way.
    """

    name: str
    config: Any
    factory: type

    @property
    def factory_name(self) -> str:
        return self.name.partition("-")[0]


def credentials(kind: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The secrets of ``kind`` from the environment, by variable name.

    Raises
    ------
    ConfigError
        Naming the first variable that is missing or empty.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for name in CREDENTIALS[_checked_kind(kind)]:
        value = environ.get(name, "")
        if not value.strip():
            raise ConfigError(f"node: {kind} live trading needs the environment variable {name}")
        found[name] = value
    return found


def _optional_credentials(kind: str, environ: Mapping[str, str] | None) -> dict[str, str | None]:
    environ = os.environ if environ is None else environ
    return {name: environ.get(name) or None for name in CREDENTIALS[kind]}


def _checked_kind(kind: str) -> str:
    if kind not in VENUE_KINDS:
        raise ConfigError(f"node.venue_kind: '{kind}' is not one of {', '.join(VENUE_KINDS)}")
    return kind


def _provider(instrument_ids: Sequence[str]) -> InstrumentProviderConfig:
    # Load only the node's instruments: a whole venue's list is thousands of requests' worth.
    return InstrumentProviderConfig(
        load_all=False, load_ids=frozenset(InstrumentId.from_str(i) for i in instrument_ids)
    )


def venue_data_client(
    kind: str, instrument_ids: Sequence[str], environ: Mapping[str, str] | None = None
) -> ClientSpec:
    """The venue's market data client (SHADOW on venue data, and LIVE).

    Public market data needs no keys; keys present in the environment are passed on (better
    rate limits), except IBKR's, whose data come through the gateway.
    """
    kind = _checked_kind(kind)
    keys = _optional_credentials(kind, environ)
    return _build(kind, "data", instrument_ids, keys, environ)


def venue_exec_client(
    kind: str, instrument_ids: Sequence[str], environ: Mapping[str, str] | None = None
) -> ClientSpec:
    """The venue's execution client (LIVE only): real orders, keys required.

    Raises
    ------
    ConfigError
        A key is missing (naming its variable) or the adapter's dependency is not installed.
    """
    kind = _checked_kind(kind)
    keys: dict[str, str | None] = dict(credentials(kind, environ))
    return _build(kind, "exec", instrument_ids, keys, environ)


def _build(
    kind: str,
    role: str,
    instrument_ids: Sequence[str],
    keys: Mapping[str, str | None],
    environ: Mapping[str, str] | None,
) -> ClientSpec:
    provider = _provider(instrument_ids)
    if kind.startswith("binance"):
        from nautilus_trader.adapters.binance import factories
        from nautilus_trader.adapters.binance.common.enums import BinanceAccountType
        from nautilus_trader.adapters.binance.config import (
            BinanceDataClientConfig,
            BinanceExecClientConfig,
        )

        account = (
            BinanceAccountType.SPOT if kind == "binance-spot" else BinanceAccountType.USDT_FUTURES
        )
        common = {
            "api_key": keys["BINANCE_API_KEY"],
            "api_secret": keys["BINANCE_API_SECRET"],
            "account_type": account,
            "instrument_provider": provider,
        }
        if role == "data":
            return ClientSpec(
                "BINANCE", BinanceDataClientConfig(**common), factories.BinanceLiveDataClientFactory
            )
        return ClientSpec(
            "BINANCE", BinanceExecClientConfig(**common), factories.BinanceLiveExecClientFactory
        )
    if kind == "bybit":
        from nautilus_trader.adapters.bybit import factories
        from nautilus_trader.adapters.bybit.config import (
            BybitDataClientConfig,
            BybitExecClientConfig,
        )
        from nautilus_trader.core.nautilus_pyo3 import BybitProductType

        products = tuple(
            dict.fromkeys(
                BybitProductType.SPOT if "-SPOT." in i else BybitProductType.LINEAR
                for i in instrument_ids
            )
        )
        common = {
            "api_key": keys["BYBIT_API_KEY"],
            "api_secret": keys["BYBIT_API_SECRET"],
            "product_types": products or None,
            "instrument_provider": provider,
        }
        if role == "data":
            return ClientSpec(
                "BYBIT", BybitDataClientConfig(**common), factories.BybitLiveDataClientFactory
            )
        return ClientSpec(
            "BYBIT", BybitExecClientConfig(**common), factories.BybitLiveExecClientFactory
        )
    if kind == "okx":
        from nautilus_trader.adapters.okx import factories
        from nautilus_trader.adapters.okx.config import OKXDataClientConfig, OKXExecClientConfig
        from nautilus_trader.core.nautilus_pyo3 import OKXContractType, OKXInstrumentType

        swaps = any("-SWAP." in i for i in instrument_ids)
        spots = any("-SWAP." not in i for i in instrument_ids)
        types = tuple(
            t
            for t, used in ((OKXInstrumentType.SPOT, spots), (OKXInstrumentType.SWAP, swaps))
            if used
        )
        common = {
            "api_key": keys["OKX_API_KEY"],
            "api_secret": keys["OKX_API_SECRET"],
            "api_passphrase": keys["OKX_API_PASSPHRASE"],
            "instrument_types": types or (OKXInstrumentType.SPOT,),
            "contract_types": (OKXContractType.LINEAR,) if swaps else None,
            "instrument_provider": provider,
        }
        if role == "data":
            return ClientSpec(
                "OKX", OKXDataClientConfig(**common), factories.OKXLiveDataClientFactory
            )
        return ClientSpec("OKX", OKXExecClientConfig(**common), factories.OKXLiveExecClientFactory)
    return _build_ibkr(role, instrument_ids, keys, environ)


def _build_ibkr(
    role: str,
    instrument_ids: Sequence[str],
    keys: Mapping[str, str | None],
    environ: Mapping[str, str] | None,
) -> ClientSpec:
    try:
        from nautilus_trader.adapters.interactive_brokers import factories
        from nautilus_trader.adapters.interactive_brokers.config import (
            InteractiveBrokersDataClientConfig,
            InteractiveBrokersExecClientConfig,
            InteractiveBrokersInstrumentProviderConfig,
        )
    except ImportError as error:
        missing = getattr(error, "name", None) or "a dependency"
        raise ConfigError(f"node.venue_kind: ibkr needs {missing}: {_IBKR_INSTALL}") from None
    environ = os.environ if environ is None else environ
    host_variable, port_variable = IBKR_GATEWAY_ENV
    host = environ.get(host_variable) or "127.0.0.1"
    port_text = environ.get(port_variable)
    try:
        port = None if not port_text else int(port_text)
    except ValueError:
        raise ConfigError(f"{port_variable}: '{port_text}' is not a port number") from None
    provider = InteractiveBrokersInstrumentProviderConfig(
        load_ids=frozenset(InstrumentId.from_str(i) for i in instrument_ids)
    )
    common = {"ibg_host": host, "ibg_port": port, "instrument_provider": provider}
    if role == "data":
        return ClientSpec(
            "IB",
            InteractiveBrokersDataClientConfig(**common),
            factories.InteractiveBrokersLiveDataClientFactory,
        )
    return ClientSpec(
        "IB",
        InteractiveBrokersExecClientConfig(account_id=keys["TWS_ACCOUNT"], **common),
        factories.InteractiveBrokersLiveExecClientFactory,
    )


# -- the desk's sandbox -------------------------------------------------------------------


class DeskSandboxExecClientConfig(SandboxExecutionClientConfig, frozen=True, kw_only=True):
    """Nautilus's sandbox config plus what the backtest venue has and it lacks.

    Parameters
    ----------
    latency_ns : int, default 0
        One-way latency in live nanoseconds: an order meets the market this much after it is
        sent. 0 processes it at once against the last trade (no queue).
    fill_model : str, default "trades_after_arrival"
        The desk's fill model (``core.config.VenueConfig.fill_model``).
    impact_coefficient_bps, impact_window_secs : float
        The impact model's (``trades_then_sqrt_impact``), as in ``VenueConfig``.
    """

    latency_ns: int = 0
    fill_model: str = "trades_after_arrival"
    impact_coefficient_bps: float = 10.0
    impact_window_secs: float = 300.0


def sandbox_exec_config(venue: VenueConfig, latency_ns: int) -> DeskSandboxExecClientConfig:
    """The sandbox config of one configured venue: its balances, account type, fill model."""
    if latency_ns < 0:
        raise ConfigError(f"venues: {venue.name}: latency must be >= 0, got {latency_ns} ns")
    return DeskSandboxExecClientConfig(
        venue=venue.name,
        starting_balances=list(venue.starting_balances),
        base_currency=None,  # multi-currency, as the backtest venue
        oms_type="NETTING",
        account_type=venue.account_type.upper(),
        latency_ns=latency_ns,
        fill_model=venue.fill_model,
        impact_coefficient_bps=venue.impact_coefficient_bps,
        impact_window_secs=venue.impact_window_secs,
    )


def add_sandbox(
    node: TradingNode, config: DeskSandboxExecClientConfig
) -> DeskSandboxExecutionClient:
    """Build a desk sandbox for ``config.venue`` and register it with ``node``'s execution engine.

    Not through a factory: Nautilus's node builder hands the portfolio (which a simulated
    exchange needs) only to a factory named ``SandboxLiveExecClientFactory``.
    """
    kernel = node.kernel
    client = DeskSandboxExecutionClient(
        loop=kernel.loop,
        portfolio=kernel.portfolio,
        msgbus=kernel.msgbus,
        cache=kernel.cache,
        clock=kernel.clock,
        config=config,
    )
    kernel.exec_engine.register_client(client)
    return client


class DeskSandboxExecutionClient(SandboxExecutionClient):
    """Nautilus's sandbox with an exchange configured like the desk's backtest venue.

    Register it with ``add_sandbox``, and pair it with ``route_order_events_inline``
    (``NautilusLiveEngine`` does both): without it the
    rest of a market order larger than the last trade is never filled (see module docstring).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        portfolio: PortfolioFacade,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: DeskSandboxExecClientConfig,
    ) -> None:
        # SandboxExecutionClient.__init__ hard-codes its exchange's models, so this repeats its
        # setup with ours instead of building (and registering) a second exchange.
        venue = Venue(config.venue)
        oms_type = oms_type_from_str(config.oms_type)
        account_type = account_type_from_str(config.account_type)
        self.test_clock = TestClock()
        LiveExecutionClient.__init__(
            self,
            loop=loop,
            client_id=ClientId(config.venue),
            venue=venue,
            oms_type=oms_type,
            account_type=account_type,
            base_currency=None,
            instrument_provider=InstrumentProvider(),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            config=None,
        )
        self._set_account_id(AccountId(f"{config.venue}-001"))
        self.latency_ns = config.latency_ns
        desk_venue = VenueConfig(
            name=config.venue,
            account_type=config.account_type.lower(),
            starting_balances=tuple(config.starting_balances),
            fill_model=config.fill_model,  # type: ignore[arg-type]  # checked by the config
            impact_coefficient_bps=config.impact_coefficient_bps,
            impact_window_secs=config.impact_window_secs,
        )
        backtest_venue = venue_config(desk_venue)
        self.exchange = SimulatedExchange(
            venue=venue,
            oms_type=oms_type,
            account_type=account_type,
            starting_balances=[Money.from_str(b) for b in config.starting_balances],
            base_currency=None,
            default_leverage=config.default_leverage,
            leverages=config.leverages or {},
            modules=[],
            portfolio=portfolio,
            msgbus=self._msgbus,
            cache=cache,
            clock=self.test_clock,
            fill_model=FillModelFactory.create(backtest_venue.fill_model),
            fee_model=MakerTakerFeeModel(),
            latency_model=LatencyModel(base_latency_nanos=config.latency_ns),
            book_type=book_type_from_str(config.book_type),
            frozen_account=config.frozen_account,
            bar_execution=config.bar_execution,
            trade_execution=backtest_venue.trade_execution,
            reject_stop_orders=config.reject_stop_orders,
            support_gtd_orders=config.support_gtd_orders,
            support_contingent_orders=config.support_contingent_orders,
            use_position_ids=config.use_position_ids,
            use_random_ids=config.use_random_ids,
            use_reduce_only=config.use_reduce_only,
            # With latency, commands wait in the in-flight queue until they arrive; without,
            # they meet the market at once, as Nautilus's sandbox does.
            use_message_queue=config.latency_ns > 0,
        )
        exchange_client = BacktestExecClient(
            exchange=self.exchange, msgbus=msgbus, cache=cache, clock=self.test_clock
        )
        self.exchange.register_client(exchange_client)  # the exchange reports the account
        self._client: BacktestExecClient | TradeFlowExecClient = exchange_client
        if config.fill_model in HONEST_MODELS:
            # Orders go to the honest client instead, as in a backtest (core.fills).
            self._client = TradeFlowExecClient(
                venue=config.venue,
                account_type=account_type,
                msgbus=msgbus,
                cache=cache,
                clock=clock,
                latency_ns=config.latency_ns,
                impact=impact_model(desk_venue),
            )
        self.exchange.initialize_account()

    def submit_order(self, command: Any) -> None:
        self._client.submit_order(command)
        self._process_on_arrival()

    def submit_order_list(self, command: Any) -> None:
        self._client.submit_order_list(command)
        self._process_on_arrival()

    def modify_order(self, command: Any) -> None:
        self._client.modify_order(command)
        self._process_on_arrival()

    def cancel_order(self, command: Any) -> None:
        self._client.cancel_order(command)
        self._process_on_arrival()

    def cancel_all_orders(self, command: Any) -> None:
        self._client.cancel_all_orders(command)
        self._process_on_arrival()

    def stop_filling(self) -> None:
        """Fill nothing more (the node is stopping): its orders are settled, not left to fill."""
        if isinstance(self._client, TradeFlowExecClient):
            self._client.stop_filling()

    def _process_on_arrival(self) -> None:
        # The exchange only looks at its in-flight queue when data arrive; a quiet market
        # would hold the order forever. A timer at the arrival does what a backtest clock does.
        if self.latency_ns > 0:
            self._loop.call_later(self.latency_ns / 1e9, self._process_now)

    def _process_now(self) -> None:
        if not self.is_connected:
            return
        now = max(self._clock.timestamp_ns(), self.test_clock.timestamp_ns())
        self.exchange.process(now)


_ENDPOINT = "ExecEngine.process"


def route_order_events_inline(
    exec_engine: ExecutionEngine, msgbus: MessageBus, venues: Iterable[str]
) -> Callable[[], None]:
    """Apply the order events of ``venues`` as they are emitted, as a backtest does.

    ``exec_engine`` is a ``LiveExecutionEngine``; events of other venues keep going through its
    queue. Returns a function that puts the live queue back for every venue.
    """
    queued = exec_engine.process
    apply = getattr(exec_engine, "_handle_event_with_tracking", None)
    if apply is None:  # an older or newer Nautilus: the base engine's synchronous path

        def apply(event: OrderEvent) -> None:
            ExecutionEngine.process(exec_engine, event)

    inline = frozenset(Venue(v) for v in venues)

    def route(event: OrderEvent) -> None:
        if event.instrument_id.venue in inline:
            apply(event)
        else:
            queued(event)

    msgbus.deregister(_ENDPOINT, queued)
    msgbus.register(_ENDPOINT, route)

    def restore() -> None:
        msgbus.deregister(_ENDPOINT, route)
        msgbus.register(_ENDPOINT, queued)

    return restore
