"""``Orchestrator``: the one path an order takes from a target change to a venue.

``NautilusRebalanceStrategy.send_lines`` hands it the lines of a rebalance
(``core.rebalance.plan_rebalance``), so the backtest and the live node send through the same
code. For each line with a side:

1. **Router** (``core.routing``): with ``[routing] enabled``, the line's asset may trade on
   several venues (same symbol); the router picks the cheapest, or splits the line when one
   venue's recent liquidity cannot absorb it. Routing off: the line's own instrument, as ever.
2. **Execution algorithm** (``core.execution.choice``, ``[execution]``): at or above
   ``algorithm_above_notional`` the order is a parent carrying ``exec_algorithm_id`` and its
   params, worked by the algorithm (whose children pass the same risk checks); otherwise, and
   with ``algorithm = "market"`` (the default), one plain market order.
3. **OMS**: each routed order's decision (venues weighed, costs, choice, one-line explanation)
   is written through the strategy's OMS sink *before* the order goes anywhere.
4. **Pre-trade risk** (``core.risk``), per order actually sent: a denied order is refused as
   Nautilus refuses its own (``OrderDenied``, in the OMS with the rule as its reason).
5. **Venue**: ``submit_order``.

On a venue's reject (``OrderRejected``, which comes before any fill), a routed order is sent
once more to the next cheapest venue of its decision, through the same risk checks, with a new
decision row naming the rejected order. A reject that cannot be rerouted (routing off, already
rerouted, no other venue with room) raises an ERROR risk alert. Every order is created through
Nautilus's order factory and either denied or submitted, so the OMS sees every one of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import ExecAlgorithmId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import MarketOrder

from core.config import ExecutionConfig, RoutingConfig
from core.execution.choice import choose_algorithm
from core.oms.events import RiskAlert, RoutedOrder
from core.pre_trade import AlertThrottle, admit_or_deny
from core.rebalance import RebalanceLine
from core.risk import MarketView, PreTradeRisk
from core.routing import (
    LiquidityTracker,
    RouteDecision,
    RouteLeg,
    SmartOrderRouter,
    VenueQuote,
    asset_groups,
    quantity_text,
)
from core.venue_quotes import Committed, commit, venue_quote

if TYPE_CHECKING:
    from core.strategy import NautilusRebalanceStrategy

OPERATION_TAG = "operation_id="
DECISION_PRICE_TAG = "decision_price="
_NS_PER_SECOND = 1_000_000_000
_REMEMBERED = 10_000
"""Routed orders kept for a reroute (the latest ones: a venue rejects an order at once)."""


@dataclass(frozen=True)
class _Sent:
    """A routed order in flight: what to reroute it with if its venue rejects it."""

    decision_id: str
    decision: RouteDecision
    leg: RouteLeg
    line: RebalanceLine
    operation_id: str
    rerouted: bool


@dataclass(frozen=True)
class _ViewGate:
    """The strategy's pre-trade gate judging against the view in hand: within one send, each
    order is judged after the ones before it (``MarketView.after``), not against a fresh read
    of the cache, where they may not show yet."""

    strategy: NautilusRebalanceStrategy
    view: MarketView

    @property
    def risk(self) -> PreTradeRisk:
        return self.strategy.risk

    @property
    def trading_state(self) -> str:
        return self.strategy.trading_state

    @property
    def alert(self) -> Callable[[Any], None] | None:
        return self.strategy.alert

    @property
    def denied(self) -> list[tuple[str, str]]:
        return self.strategy.denied

    def risk_view(self) -> MarketView:
        return self.view


class Orchestrator:
    """Carries a strategy's rebalance lines through router, OMS, risk and venue.

    Parameters
    ----------
    strategy : NautilusRebalanceStrategy
        The strategy whose order factory, cache, risk checks and OMS sink are used.
    routing : RoutingConfig
        ``[routing]``; ``enabled = false`` sends every line to its own instrument.
    execution : ExecutionConfig
        ``[execution]``: which algorithm works an order (``market``: none).
    """

    def __init__(
        self,
        strategy: NautilusRebalanceStrategy,
        routing: RoutingConfig,
        execution: ExecutionConfig,
    ) -> None:
        self._strategy = strategy
        self.routing = routing
        self._execution = execution
        self.router = SmartOrderRouter(routing.max_participation)
        self.tracker = LiquidityTracker(round(routing.liquidity_window_secs * _NS_PER_SECOND))
        """Recent volume per instrument; the strategy feeds it trade ticks when routing is on."""
        self.groups: dict[str, tuple[str, ...]] = asset_groups(
            str(i) for i in strategy.config.instrument_ids
        )
        """Each asset's primary instrument id and every instrument of it (one per venue)."""
        self._sent: dict[str, _Sent] = {}
        self._ids = itertools.count(1)
        self._warnings = AlertThrottle()

    # -- sending -------------------------------------------------------------------------------

    def send(self, lines: Sequence[RebalanceLine], operation_id: str) -> int:
        """Send one order per line that has a side (several when the router splits one), in
        the order given (sells first, as planned, so they free room for the buys); returns how
        many orders reached a venue."""
        strategy = self._strategy
        sent = 0
        view: MarketView | None = None
        now = strategy.clock.timestamp_ns()
        committed: Committed = {}
        for line in lines:
            if line.side is None:
                continue
            if not self.routing.enabled:
                instrument = strategy.cache.instrument(InstrumentId.from_str(line.instrument_id))
                order = self._order(instrument, line.side, line.quantity, line.price, operation_id)
                view, ok = self._admit(order, instrument, line.price, view, now)
                sent += ok
                continue
            decision = self.route(line, now, committed)
            decision_id = f"{operation_id}:{next(self._ids)}"
            for leg in decision.legs:
                instrument = strategy.cache.instrument(InstrumentId.from_str(leg.instrument_id))
                order = self._order(instrument, line.side, leg.quantity, leg.price, operation_id)
                self._record(order, decision_id, decision, leg, operation_id, None, now)
                view, ok = self._admit(order, instrument, leg.price, view, now)
                if ok:
                    commit(committed, instrument, line.side, leg)
                    self._remember(
                        order, _Sent(decision_id, decision, leg, line, operation_id, False)
                    )
                sent += ok
            if decision.unrouted > 0:
                self._alert_unrouted(line, decision, now)
        return sent

    def _remember(self, order: MarketOrder, sent: _Sent) -> None:
        # What a reject would need; a venue rejects within moments of the submit, so only the
        # latest orders are kept (the map stays bounded on a node that runs for weeks).
        self._sent[order.client_order_id.value] = sent
        if len(self._sent) > _REMEMBERED:
            del self._sent[next(iter(self._sent))]

    def _alert_unrouted(self, line: RebalanceLine, decision: RouteDecision, now: int) -> None:
        strategy = self._strategy
        message = f"{line.instrument_id}: {decision.explanation}"
        strategy.log.warning(message)
        if strategy.alert is not None:
            strategy.alert(
                RiskAlert(
                    alert_id=f"route_unrouted:{line.instrument_id}:{now}",
                    ts_event=now,
                    severity="WARNING",
                    rule="route_unrouted",
                    message=message,
                    instrument_id=line.instrument_id,
                    run_id=strategy.run_id,
                )
            )

    def route(
        self, line: RebalanceLine, now: int, committed: Committed | None = None
    ) -> RouteDecision:
        """The router's decision for ``line`` among the venues of its asset (sends nothing)."""
        assert line.side is not None, "a line without a side has nothing to route"
        members = self.groups.get(line.instrument_id, (line.instrument_id,))
        quotes = [
            quote
            for member in members
            if (quote := self.quote(member, line.side, now, committed or {})) is not None
        ]
        return self.router.route(line.side, line.quantity, quotes)

    def quote(
        self, instrument_id: str, side: str, now: int, committed: Committed
    ) -> VenueQuote | None:
        """What the router knows of ``instrument_id``'s venue now (None: not in the cache)."""
        return venue_quote(
            self._strategy, self.routing, self.tracker, instrument_id, side, now, committed
        )

    def _order(
        self,
        instrument: Instrument,
        side: str,
        quantity: float,
        decision_price: float | None,
        operation_id: str,
    ) -> MarketOrder:
        strategy = self._strategy
        algorithm_id, params = self._algorithm(quantity * (decision_price or 0.0))
        return strategy.order_factory.market(
            instrument_id=instrument.id,
            order_side=OrderSide.BUY if side == "BUY" else OrderSide.SELL,
            quantity=Quantity(quantity, instrument.size_precision),
            tags=[f"{OPERATION_TAG}{operation_id}", f"{DECISION_PRICE_TAG}{decision_price!r}"],
            exec_algorithm_id=algorithm_id,
            exec_algorithm_params=params,
        )

    def _algorithm(self, notional: float) -> tuple[ExecAlgorithmId | None, dict[str, Any] | None]:
        # The parent's algorithm and params from [execution]; (None, None) is a plain order.
        choice = choose_algorithm(notional, self._execution)
        if choice is None:
            return None, None
        return choice.exec_algorithm_id, choice.exec_algorithm_params

    def _admit(
        self,
        order: MarketOrder,
        instrument: Instrument,
        price: float | None,
        view: MarketView | None,
        now: int,
    ) -> tuple[MarketView, bool]:
        # The pre-trade checks, then the venue: a denied order is refused as Nautilus refuses
        # its own; an admitted one moves the view on, so the next order is judged after it.
        strategy = self._strategy
        view = strategy.risk_view() if view is None else view
        side = "BUY" if order.side == OrderSide.BUY else "SELL"
        intent = strategy.intent(
            str(instrument.id),
            side,
            order.quantity.as_double(),
            price,
            now,
            worked=order.exec_algorithm_id is not None,
        )
        verdict = admit_or_deny(_ViewGate(strategy, view), strategy, order, intent, self._warnings)
        if not verdict.allowed:
            return view, False
        strategy.submit_order(order)
        return view.after(intent), True

    def _record(
        self,
        order: MarketOrder,
        decision_id: str,
        decision: RouteDecision,
        leg: RouteLeg,
        operation_id: str,
        rerouted_from: str | None,
        now: int,
        explanation: str | None = None,
    ) -> None:
        record = RoutedOrder(
            client_order_id=order.client_order_id.value,
            decision_id=decision_id,
            ts_event=now,
            instrument_id=leg.instrument_id,
            venue=leg.venue,
            side=decision.side,
            quantity=leg.quantity,
            parent_quantity=decision.quantity,
            order_type=decision.order_type,
            explanation=explanation or decision.explanation,
            candidates=tuple(
                {
                    "venue": c.venue,
                    "fee_bps": c.fee_bps,
                    "latency_bps": c.latency_bps,
                    "total_bps": c.total_bps,
                    "liquidity": c.liquidity,
                    "capacity": c.capacity,
                    "quantity": c.quantity,
                }
                for c in decision.costs
            ),
            operation_id=operation_id,
            rerouted_from=rerouted_from,
            run_id=self._strategy.run_id,
        )
        sink: Callable[[Any], None] | None = self._strategy.alert
        if sink is not None:
            sink(record)

    # -- venue errors --------------------------------------------------------------------------

    def on_rejected(self, event: OrderRejected) -> None:
        """A venue refused an order: reroute it once to the next cheapest venue where that is
        safe (a routed order, never rerouted, another venue with room), else alert."""
        client_order_id = event.client_order_id.value
        sent = self._sent.pop(client_order_id, None)
        venue = event.instrument_id.venue.value
        if sent is None:
            why = "routing is off" if not self.routing.enabled else "not a routed order"
        elif sent.rerouted:
            why = "already rerouted once"
        else:
            rerouted = self._reroute(client_order_id, sent, venue, event.reason)
            if rerouted is None:
                return
            why = rerouted
        self._alert_reject(event, venue, why)

    def _reroute(self, rejected_id: str, sent: _Sent, venue: str, reason: str) -> str | None:
        # None when rerouted; else why not.
        strategy = self._strategy
        now = strategy.clock.timestamp_ns()
        side = sent.decision.side
        for cost in sent.decision.costs:
            if cost.venue == venue:
                continue
            quote = self.quote(cost.instrument_id, side, now, {})
            if quote is None or quote.price is None:
                continue
            room = quote.max_quantity
            if room is not None and room < sent.leg.quantity:
                continue
            instrument = strategy.cache.instrument(InstrumentId.from_str(cost.instrument_id))
            leg = RouteLeg(cost.venue, cost.instrument_id, sent.leg.quantity, quote.price)
            order = self._order(instrument, side, leg.quantity, leg.price, sent.operation_id)
            explanation = (
                f"{side} {quantity_text(leg.quantity)} rerouted {venue} -> {cost.venue} at "
                f"{cost.total_bps:.2f} bps after a reject ({_short(reason)})"
            )
            self._record(
                order,
                sent.decision_id,
                sent.decision,
                leg,
                sent.operation_id,
                rejected_id,
                now,
                explanation,
            )
            _, ok = self._admit(order, instrument, leg.price, None, now)
            if ok:
                self._remember(
                    order,
                    _Sent(sent.decision_id, sent.decision, leg, sent.line, sent.operation_id, True),
                )
                return None
            return f"the reroute to {cost.venue} was denied"
        return "no other venue with room"

    def _alert_reject(self, event: OrderRejected, venue: str, why: str) -> None:
        strategy = self._strategy
        alert = strategy.alert
        message = (
            f"{event.client_order_id} rejected by {venue}: {_short(event.reason)}; "
            f"not rerouted ({why})"
        )
        strategy.log.error(message)
        if alert is None:
            return
        alert(
            RiskAlert(
                alert_id=f"venue_reject:{event.client_order_id}:{event.ts_event}",
                ts_event=event.ts_event,
                severity="ERROR",
                rule="venue_reject",
                message=message,
                instrument_id=str(event.instrument_id),
                details={"reason": event.reason, "venue": venue},
                run_id=strategy.run_id,
            )
        )


def _short(reason: str) -> str:
    line = " ".join(str(reason).split())
    return line if len(line) <= 120 else line[:117] + "..."
