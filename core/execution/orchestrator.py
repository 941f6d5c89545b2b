"""``Orchestrator``: the one path an order takes from a target change to a venue.

``NautilusRebalanceStrategy.send_lines`` hands it the lines of a rebalance
(``core.portfolio.rebalance.plan_rebalance``), so the backtest and the live node send through
the same code. For each line with a side:

1. **Router** (``core.execution.routing``): with ``[routing] enabled``, the line's asset may
   trade on several venues (same symbol); the router picks the cheapest, or splits the line when one
   venue's recent liquidity cannot absorb it. Routing off: the line's own instrument, as ever.
2. **Execution algorithm** (``core.execution.algorithms.choice``, ``[execution]``): at or above
   ``algorithm_above_notional`` the order is a parent carrying ``exec_algorithm_id`` and its
   params, worked by the algorithm (whose children pass the same risk checks); otherwise, and
   with ``algorithm = "market"`` (the default), one plain market order. A new rebalance of an
   instrument first cancels what is left of its older parents (``replace_parents``): parents
   never stack.
3. **OMS**: each routed order's decision (venues weighed, costs, choice, one-line explanation)
   is written through the strategy's OMS sink *before* the order goes anywhere.
4. **Pre-trade risk** (``core.risk``), per order actually sent: a denied order is refused as
   Nautilus refuses its own (``OrderDenied``, in the OMS with the rule as its reason).
5. **Venue**: ``submit_order``; or, for a leg on an external venue (``attach_external``: routing
   on and the venue priced in ``[routing.venues]``), ``ExternalVenues.submit`` as a task on the
   node's loop: an immediate-or-cancel order at a protective limit, written to the OMS before
   its request leaves. An order an execution algorithm works stays on Nautilus venues.

On a venue's reject (``OrderRejected``, or an external venue's REJECTED answer: both come before
any fill), a routed order is sent once more to the next cheapest venue of its decision, through
the same risk checks, with a new decision row naming the rejected order. A reject that cannot be
rerouted (routing off, already rerouted, no other venue with room) raises an ERROR risk alert.
An external venue that does not answer (``VenueUnavailable``) is never sent the order again (it
may be there): an alert says so and the poller settles it. Every order is created through
Nautilus's order factory and either denied or submitted, so the OMS sees every one of them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import ExecAlgorithmId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Quantity
from nautilus_trader.model.orders import MarketOrder, Order

from core.config import ExecutionConfig, RoutingConfig
from core.execution.algorithms.choice import choose_algorithm
from core.execution.external.adapter import OrderRequest
from core.execution.external.errors import VenueUnavailable
from core.execution.host import StrategyHost
from core.execution.routing import (
    LiquidityTracker,
    RouteDecision,
    RouteLeg,
    SmartOrderRouter,
    VenueQuote,
    asset_groups,
    asset_of,
    quantity_text,
    venue_of,
)
from core.execution.venue_quotes import Committed, commit, venue_quote
from core.oms.events import RiskAlert, RoutedOrder
from core.portfolio.rebalance import RebalanceLine
from core.risk import MarketView
from core.risk.pre_trade import AlertThrottle, admit_or_deny, raise_warnings

if TYPE_CHECKING:
    from core.execution.external.routes import ExternalRoutes

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
    operation_id: str
    rerouted: bool


class Orchestrator:
    """Carries a strategy's rebalance lines through router, OMS, risk and venue.

    Parameters
    ----------
    strategy : StrategyHost
        The strategy whose order factory, cache, risk checks and OMS sink are used.
    routing : RoutingConfig
        ``[routing]``; ``enabled = false`` sends every line to its own instrument.
    execution : ExecutionConfig
        ``[execution]``: which algorithm works an order (``market``: none).
    """

    def __init__(
        self,
        strategy: StrategyHost,
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
        self.external: ExternalRoutes | None = None
        """The external venues the router may use (``attach_external``; None: Nautilus only)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._parents: dict[str, list[Order]] = {}
        """Parents sent to an execution algorithm, by instrument id, until a newer rebalance
        of the instrument replaces them (``replace_parents``)."""

    def attach_external(self, routes: ExternalRoutes) -> None:
        """Route to ``routes``' instruments too: each joins the group of the asset it trades
        (after the Nautilus members, so the primary stays a Nautilus instrument). An external
        instrument of an asset the strategy does not trade is left out: no target names it."""
        self.external = routes
        by_asset = {asset_of(primary): primary for primary in self.groups}
        for instrument_id in routes.instruments:
            primary = by_asset.get(asset_of(instrument_id))
            if primary is not None and instrument_id not in self.groups[primary]:
                self.groups[primary] = (*self.groups[primary], instrument_id)

    def held(self, instrument_id: str, holdings: Mapping[str, float]) -> float:
        """What is held of ``instrument_id``: ``holdings``' figure for a Nautilus instrument,
        the venue's for an external one (the unified position across venues)."""
        if instrument_id in holdings or self.external is None or instrument_id not in self.external:
            return holdings.get(instrument_id, 0.0)
        return self.external.holding(instrument_id)

    def external_value(self) -> tuple[float, float]:
        """(equity, free cash) the external venues add in the valuation currency (0 without)."""
        return (0.0, 0.0) if self.external is None else self.external.value()

    def with_external(self, view: MarketView) -> MarketView:
        """The risk checks' view with the external instruments in it (unchanged without)."""
        if self.external is None:
            return view
        return self.external.with_external(view, str(self._strategy.id))

    # -- sending -------------------------------------------------------------------------------

    def replace_parents(self, instrument_ids: Iterable[str]) -> list[str]:
        """Cancel what is left of the orders still working for ``instrument_ids`` (every
        venue of their asset): the parents an algorithm works (it stops them and cancels their
        working children) and plain orders still waiting for the market (an honest fill model
        fills a large market order over later trades). A new rebalance calls it before it
        plans, so it plans from the position as it is and its orders replace the old ones:
        orders of one instrument never work side by side. Returns the ids cancelled."""
        strategy = self._strategy
        replaced: list[str] = []
        for instrument_id in instrument_ids:
            for member in self.groups.get(instrument_id, (instrument_id,)):
                plain = [
                    order
                    for order in strategy.cache.orders_open(
                        instrument_id=InstrumentId.from_str(member), strategy_id=strategy.id
                    )
                    if order.exec_algorithm_id is None
                ]
                for order in [*self._parents.pop(member, ()), *plain]:
                    if order.is_closed or order.is_pending_cancel:
                        continue
                    strategy.cancel_order(order)
                    replaced.append(order.client_order_id.value)
        if replaced:
            strategy.log.info(f"a new rebalance replaces the orders {', '.join(replaced)}")
        return replaced

    def send(self, lines: Sequence[RebalanceLine], operation_id: str) -> int:
        """Send one order per line that has a side (several when the router splits one), in
        the order given (sells first, as planned, so they free room for the buys); returns how
        many orders reached a venue."""
        strategy = self._strategy
        sent = 0
        view: MarketView | None = None
        now = strategy.clock.timestamp_ns()
        committed: Committed = {}
        self.replace_parents(line.instrument_id for line in lines if line.side is not None)
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
                routed = _Sent(decision_id, decision, leg, operation_id, False)
                if self.external is not None and leg.instrument_id in self.external:
                    view, ok = self._send_external(routed, None, now, view)
                    if ok:
                        self.external.commit(committed, line.side, leg)
                    sent += ok
                    continue
                instrument = strategy.cache.instrument(InstrumentId.from_str(leg.instrument_id))
                order = self._order(instrument, line.side, leg.quantity, leg.price, operation_id)
                self._record(order.client_order_id.value, routed, None, now)
                view, ok = self._admit(order, instrument, leg.price, view, now)
                if ok:
                    commit(committed, instrument, line.side, leg)
                    self._remember(order.client_order_id.value, routed)
                sent += ok
            if decision.unrouted > 0:
                self._alert_unrouted(line, decision, now)
        return sent

    def _remember(self, client_order_id: str, sent: _Sent) -> None:
        # What a reject would need; a venue rejects within moments of the submit, so only the
        # latest orders are kept (the map stays bounded on a node that runs for weeks).
        self._sent[client_order_id] = sent
        if len(self._sent) > _REMEMBERED:
            del self._sent[next(iter(self._sent))]

    def _alert_unrouted(self, line: RebalanceLine, decision: RouteDecision, now: int) -> None:
        message = f"{line.instrument_id}: {decision.explanation}"
        key = line.instrument_id
        self._alert("route_unrouted", message, key, key, now, None, severity="WARNING")

    def route(
        self, line: RebalanceLine, now: int, committed: Committed | None = None
    ) -> RouteDecision:
        """The router's decision for ``line`` among the venues of its asset (sends nothing)."""
        assert line.side is not None, "a line without a side has nothing to route"
        members = self.groups.get(line.instrument_id, (line.instrument_id,))
        external = self.external
        if external is not None and self._algorithm(line.quantity * (line.price or 0.0))[0]:
            # An execution algorithm works its parent on a Nautilus venue only.
            members = tuple(m for m in members if m not in external)
        quotes = [
            quote
            for member in members
            if (quote := self.quote(member, line.side, now, committed or {})) is not None
        ]
        return self.router.route(line.side, line.quantity, quotes)

    def quote(
        self, instrument_id: str, side: str, now: int, committed: Committed
    ) -> VenueQuote | None:
        """What the router knows of ``instrument_id``'s venue now (None: unknown there)."""
        if self.external is not None and instrument_id in self.external:
            return self.external.quote(instrument_id, side, now, committed)
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

    def works(self, quantity: float, price: float | None) -> bool:
        """Whether an order of ``quantity`` at ``price`` goes out as a parent an execution
        algorithm works (``[execution]``): its checks are then its children's (see
        ``OrderIntent.worked``), in the preview as when it is sent."""
        return choose_algorithm(quantity * (price or 0.0), self._execution) is not None

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
        # Judged against the view in hand: within one send, each order after the ones before
        # it (``MarketView.after``), not a fresh read of the cache, where they may not show yet.
        verdict = admit_or_deny(strategy, strategy, order, intent, self._warnings, view=view)
        if not verdict.allowed:
            return view, False
        if order.exec_algorithm_id is not None:
            self._parents.setdefault(str(instrument.id), []).append(order)
        strategy.submit_order(order)
        return view.after(intent), True

    def _record(
        self,
        client_order_id: str,
        sent: _Sent,
        rerouted_from: str | None,
        now: int,
        explanation: str | None = None,
    ) -> None:
        decision, leg, decision_id = sent.decision, sent.leg, sent.decision_id
        operation_id = sent.operation_id
        record = RoutedOrder(
            client_order_id=client_order_id,
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
        self._rejected(
            event.client_order_id.value,
            str(event.instrument_id),
            event.reason,
            event.ts_event,
        )

    def _rejected(self, client_order_id: str, instrument_id: str, reason: str, ts: int) -> None:
        # Nothing reached the venue (a reject comes before any fill): rerouting is safe.
        sent = self._sent.pop(client_order_id, None)
        venue = venue_of(instrument_id)
        if sent is None:
            why = "routing is off" if not self.routing.enabled else "not a routed order"
        elif sent.rerouted:
            why = "already rerouted once"
        else:
            rerouted = self._reroute(client_order_id, sent, venue, reason)
            if rerouted is None:
                return
            why = rerouted
        self._alert(
            "venue_reject",
            f"{client_order_id} rejected by {venue}: {_short(reason)}; not rerouted ({why})",
            client_order_id,
            instrument_id,
            ts,
            {"reason": reason, "venue": venue},
        )

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
            leg = RouteLeg(cost.venue, cost.instrument_id, sent.leg.quantity, quote.price)
            again = replace(sent, leg=leg, rerouted=True)
            explanation = (
                f"{side} {quantity_text(leg.quantity)} rerouted {venue} -> {cost.venue} at "
                f"{cost.total_bps:.2f} bps after a reject ({_short(reason)})"
            )
            if self.external is not None and leg.instrument_id in self.external:
                _, ok = self._send_external(again, rejected_id, now, None, explanation)
            else:
                instrument = strategy.cache.instrument(InstrumentId.from_str(cost.instrument_id))
                order = self._order(instrument, side, leg.quantity, leg.price, sent.operation_id)
                self._record(order.client_order_id.value, again, rejected_id, now, explanation)
                _, ok = self._admit(order, instrument, leg.price, None, now)
                if ok:
                    self._remember(order.client_order_id.value, again)
            return None if ok else f"the reroute to {cost.venue} was denied"
        return "no other venue with room"

    # -- external venues -----------------------------------------------------------------------

    def _send_external(
        self,
        sent: _Sent,
        rerouted_from: str | None,
        now: int,
        view: MarketView | None,
        explanation: str | None = None,
    ) -> tuple[MarketView, bool]:
        # The decision is in the OMS, the leg passes the same checks as a Nautilus order (the
        # view holds the external instruments), then the submit runs as a task on the loop:
        # ``ExternalVenues.submit`` writes the order before its request leaves.
        strategy, routes = self._strategy, self.external
        assert routes is not None
        view = strategy.risk_view() if view is None else view
        leg, side = sent.leg, sent.decision.side
        client_order_id = strategy.order_factory.generate_client_order_id().value
        request = routes.request(client_order_id, leg, side, str(strategy.id), sent.operation_id)
        self._record(client_order_id, sent, rerouted_from, now, explanation)
        intent = strategy.intent(leg.instrument_id, side, leg.quantity, leg.price, now)
        verdict = strategy.risk.admit(intent, view, strategy.trading_state)
        raise_warnings(strategy, intent, verdict, self._warnings)
        if not verdict.allowed:
            reason = verdict.reason or "denied"
            strategy.denied.append((client_order_id, reason))
            strategy.log.warning(f"{client_order_id} denied: {reason}")
            routes.deny(request, reason, now)
            self._alert(
                str(verdict.denial.rule) if verdict.denial is not None else "order_denied",
                f"{client_order_id} denied: {reason}",
                client_order_id,
                leg.instrument_id,
                now,
                {"client_order_id": client_order_id, "reason": reason},
            )
            return view, False
        self._remember(client_order_id, sent)
        task = asyncio.get_running_loop().create_task(
            self._submit_external(request), name=f"external-submit {client_order_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return view.after(intent), True

    async def _submit_external(self, request: OrderRequest) -> None:
        routes = self.external
        assert routes is not None
        venue = venue_of(request.instrument_id)
        key, instrument_id = request.client_order_id, request.instrument_id
        try:
            answer = await routes.submit(request)
        except VenueUnavailable as error:
            # The order may be at the venue: never resent; the poller settles it by its id.
            # ``ExternalVenues.submit`` raised the order's alert (external_order_unknown).
            self._sent.pop(key, None)
            self._strategy.log.warning(f"{key} at {venue}: no answer ({_short(str(error))})")
            return
        except Exception as error:  # a bug must not vanish in a task nobody awaits
            self._sent.pop(key, None)
            self._alert(
                "venue_error",
                f"{key} at {venue}: {_short(str(error))}",
                key,
                instrument_id,
                routes.venues.now_ns(),
                {"venue": venue},
            )
            return
        if answer.status == "REJECTED":
            self._rejected(key, instrument_id, answer.reason or "rejected", answer.ts_event)
            return
        self._sent.pop(key, None)
        if answer.status == "CANCELED" and answer.filled_qty < request.quantity:
            left = quantity_text(request.quantity - answer.filled_qty)
            self._alert(
                "external_unfilled",
                f"{key} at {venue}: {left} not filled within the protective limit "
                f"{request.price}; the next rebalance trades what is left",
                key,
                instrument_id,
                answer.ts_event,
                {"venue": venue},
                severity="WARNING",
            )

    async def drain(self) -> None:
        """Wait for the external submits in flight (tests, and a node stopping)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    def _alert(
        self,
        rule: str,
        message: str,
        key: str,
        instrument_id: str,
        ts: int,
        details: dict[str, Any] | None,
        severity: str = "ERROR",
    ) -> None:
        # Logged, and a risk alert in the OMS whose id is the rule, ``key`` (the order, or an
        # unrouted line's instrument) and the time.
        strategy = self._strategy
        if severity == "ERROR":
            strategy.log.error(message)
        else:
            strategy.log.warning(message)
        if strategy.alert is None:
            return
        strategy.alert(
            RiskAlert(
                alert_id=f"{rule}:{key}:{ts}",
                ts_event=ts,
                severity=severity,
                rule=rule,
                message=message,
                instrument_id=instrument_id,
                details=details,
                run_id=strategy.run_id,
            )
        )


def _short(reason: str) -> str:
    line = " ".join(str(reason).split())
    return line if len(line) <= 120 else line[:117] + "..."
