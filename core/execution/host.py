"""``StrategyHost``: what the order path uses of the strategy that owns it.

The strategy (``core.execution.strategy``) owns an ``Orchestrator``; the orchestrator and the
router's venue quotes (``core.execution.venue_quotes``) call back into the strategy for its
cache, clock, order factory, risk checks and books. They take it by this interface rather than
by importing the strategy, so the strategy and its order path do not import each other, and a
reader sees in one place everything the order path may touch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import Clock, Logger
from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.model.identifiers import InstrumentId, StrategyId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.portfolio.base import PortfolioFacade

from core.risk import MarketView, OrderIntent, PreTradeRisk


class HostConfig(Protocol):
    """The part of the strategy's config the order path reads."""

    @property
    def instrument_ids(self) -> Sequence[InstrumentId | str]: ...


class StrategyHost(Protocol):
    """The Nautilus strategy an orchestrator sends for (``NautilusRebalanceStrategy``)."""

    @property
    def id(self) -> StrategyId: ...
    @property
    def config(self) -> HostConfig: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def cache(self) -> Cache: ...
    @property
    def log(self) -> Logger: ...
    @property
    def portfolio(self) -> PortfolioFacade: ...
    @property
    def order_factory(self) -> OrderFactory: ...

    risk: PreTradeRisk
    """The pre-trade checks every order and child passes."""
    trading_state: str
    """ACTIVE, REDUCING or HALTED."""
    alert: Callable[[Any], None] | None
    """Where OMS records go (risk alerts, route decisions); None drops them."""
    run_id: str | None
    """The backtest whose OMS rows the records join (None: the node)."""
    denied: list[tuple[str, str]]
    """(client order id, reason) of every order the pre-trade checks refused."""

    def risk_view(self) -> MarketView:
        """The book as the pre-trade checks see it now."""
        ...

    def intent(
        self,
        instrument_id: str,
        side: str,
        quantity: float,
        price: float | None,
        now: int,
        *,
        worked: bool = False,
    ) -> OrderIntent:
        """An order of this strategy as the pre-trade checks see it."""
        ...

    def submit_order(self, order: Order, *args: Any, **kwargs: Any) -> None:
        """Nautilus's own submit (to the risk engine, then the venue or an algorithm)."""
        ...

    def cancel_order(self, order: Order, *args: Any, **kwargs: Any) -> None:
        """Nautilus's own cancel (a parent not yet sent goes to its algorithm, which stops it
        and cancels its working children)."""
        ...

    def last_price(self, instrument: Instrument) -> float | None:
        """The price decisions are made at; None before any trade."""
        ...

    def holding(self, instrument: Instrument) -> float:
        """What the account at the instrument's venue holds of it."""
        ...

    def free_cash(self, venue: Venue) -> float:
        """Cash free to buy with at ``venue``, in the valuation currency."""
        ...
