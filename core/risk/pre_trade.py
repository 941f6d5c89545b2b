"""The pre-trade gate between a Nautilus strategy and ``submit_order``.

``core.risk`` knows nothing of Nautilus: it judges an :class:`~core.risk.OrderIntent` against a
:class:`~core.risk.MarketView`. This module is the Nautilus side of it, used by every strategy
of the desk in backtests and on the node alike:

- ``market_view`` builds the view from the strategy's cache: equity, each instrument's last and
  mid price, venue rules and multiplier, and the position the book *will* have (the holding plus
  the signed remainder of every open order), so an order is judged against what is in flight;
- ``deny_order`` refuses an order exactly as Nautilus's own strategy does (the order enters the
  cache, ``OrderDenied`` is applied and published on ``events.order.<strategy>``), so a denial
  is a row in the order history (``orders.parquet``, the OMS) with the rule and numbers as its
  reason, and the OMS raises it as a risk alert;
- ``AlertThrottle`` keeps near-limit warnings from flooding the Risk pane: one alert per rule
  and instrument per interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from nautilus_trader.common.actor import Actor
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.enums import OrderSide, PriceType
from nautilus_trader.model.events import OrderDenied, OrderEvent
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

from core.oms.events import RiskAlert
from core.portfolio.rebalance import InstrumentRules
from core.risk import InstrumentMarket, MarketView, OrderIntent, PreTradeRisk, RiskVerdict

WARNING_INTERVAL_NS = 60 * 1_000_000_000
"""A near-limit warning of one rule and instrument is raised at most once a minute."""


def market_view(
    strategy: Strategy,
    instruments: Mapping[str, Instrument],
    prices: Mapping[str, float | None],
    holdings: Mapping[str, float],
    rules: Mapping[str, InstrumentRules],
    equity: float,
) -> MarketView:
    """The book as the risk checks see it, for the instruments ``strategy`` trades.

    ``holdings`` is the account's signed quantity per instrument (the base balance of a cash
    account, the net position of a margin one); every open order's unfilled remainder is added
    with its sign. The node runs one strategy per account, so the holding is the strategy's.
    """
    strategy_id = str(strategy.id)
    cache = strategy.cache
    positions: dict[tuple[str, str], float] = {}
    markets: dict[str, InstrumentMarket] = {}
    for key, instrument in instruments.items():
        quantity = holdings.get(key, 0.0)
        for order in cache.orders_open(instrument_id=instrument.id):
            leaves = order.leaves_qty.as_double()
            quantity += leaves if order.side == OrderSide.BUY else -leaves
        positions[(strategy_id, key)] = quantity
        mid = cache.price(instrument.id, PriceType.MID)
        markets[key] = InstrumentMarket(
            last=prices.get(key),
            mid=None if mid is None else mid.as_double(),
            rules=rules.get(key),
            multiplier=float(instrument.multiplier),
        )
    return MarketView(equity, positions, markets)


def deny_order(
    strategy: Strategy | Actor, order: Order, reason: str, *, published: bool = False
) -> None:
    """Refuse ``order`` before it reaches the venue, as Nautilus's strategy does its own.

    The order's initialisation is published first (as ``submit_order`` would), so the OMS and
    the results see a whole history: INITIALIZED, then DENIED with ``reason``; ``published``
    says it already was (a parent its strategy handed to an execution algorithm).
    """
    cache = strategy.cache
    topic = f"events.order.{order.strategy_id}"
    if not published:
        strategy.msgbus.publish(topic=topic, msg=order.init_event)
    if not cache.order_exists(order.client_order_id):
        cache.add_order(order)
    now = strategy.clock.timestamp_ns()
    event = OrderDenied(
        trader_id=order.trader_id,
        strategy_id=order.strategy_id,
        instrument_id=order.instrument_id,
        client_order_id=order.client_order_id,
        reason=reason,
        event_id=UUID4(),
        ts_init=now,
    )
    apply_event(strategy, order, event)


def apply_event(sender: Strategy | Actor, order: Order, event: OrderEvent) -> None:
    """Apply an order event the desk makes itself (no venue does: a denial, an algorithm
    closing or resizing its parent), then store and publish it as the execution engine does,
    so the OMS and the results see it like any other."""
    order.apply(event)
    sender.cache.update_order(order)
    sender.msgbus.publish(topic=f"events.order.{order.strategy_id}", msg=event)


class AlertThrottle:
    """Passes the first warning of a (rule, instrument) and then one per ``interval_ns``.

    Velocity and exposure warnings recur on every order near a limit; the operator needs to
    know that a limit is near, not a row per order. Denials are never throttled.
    """

    def __init__(self, interval_ns: int = WARNING_INTERVAL_NS) -> None:
        self.interval_ns = interval_ns
        self._last: dict[tuple[str, str | None], int] = {}
        self.suppressed = 0
        """Warnings held back since start."""

    def allow(self, rule: str, instrument_id: str | None, ts_ns: int) -> bool:
        """Whether a warning of ``rule`` on ``instrument_id`` at ``ts_ns`` is raised."""
        key = (rule, instrument_id)
        last = self._last.get(key)
        if last is not None and ts_ns - last < self.interval_ns:
            self.suppressed += 1
            return False
        self._last[key] = ts_ns
        return True


class PreTradeGate(Protocol):
    """What an order's owner offers the checks: ``NautilusRebalanceStrategy`` is one.

    An execution algorithm submits its children on behalf of the strategy that owns the parent,
    so the children are judged by that strategy's limits, velocity windows and trading state,
    exactly as its own orders are.
    """

    risk: PreTradeRisk
    trading_state: str
    alert: Callable[[RiskAlert], None] | None
    denied: list[tuple[str, str]]

    def risk_view(self) -> MarketView: ...


def admit_or_deny(
    gate: PreTradeGate,
    sender: Actor,
    order: Order,
    intent: OrderIntent,
    throttle: AlertThrottle,
    trading_state: str | None = None,
    *,
    published: bool = False,
    view: MarketView | None = None,
) -> RiskVerdict:
    """Judge ``order`` as ``gate``'s own: count it if allowed, raise its near-limit warnings
    (throttled), and if denied refuse it from ``sender`` (``deny_order``: DENIED with the rule
    and numbers) and note it in ``gate.denied``. ``trading_state`` overrides the gate's own
    (a kill the sender heard of first); ``published``: as for ``deny_order``; ``view``: the
    book to judge against (default ``gate.risk_view()``, a fresh read)."""
    verdict = gate.risk.admit(
        intent,
        gate.risk_view() if view is None else view,
        gate.trading_state if trading_state is None else trading_state,
    )
    raise_warnings(gate, intent, verdict, throttle)
    if not verdict.allowed:
        reason = verdict.reason or "denied"
        gate.denied.append((order.client_order_id.value, reason))
        sender.log.warning(f"{order.client_order_id} denied: {reason}")
        deny_order(sender, order, reason, published=published)
    return verdict


def raise_warnings(
    gate: PreTradeGate, intent: OrderIntent, verdict: RiskVerdict, throttle: AlertThrottle
) -> None:
    """Send ``verdict``'s near-limit warnings on ``intent`` to ``gate.alert``, throttled."""
    if gate.alert is None or not verdict.warnings:
        return
    shown = [
        w
        for w in verdict.warnings
        if throttle.allow(str(w.rule), intent.instrument_id, intent.ts_ns)
    ]
    if shown:
        for alert in gate.risk.alerts(intent, RiskVerdict(True, None, tuple(shown))):
            gate.alert(alert)
