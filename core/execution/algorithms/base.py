"""What the desk's three execution algorithms share: the parent's bookkeeping, the pre-trade
gate every child passes, the kill, and the timers.

A parent order (``exec_algorithm_id`` set) reaches ``on_order`` from the strategy that owns
it. The algorithm spawns children with ``reduce_primary=False`` and keeps its own account of
the parent (filled, working), so a re-pegged or cancelled limit child never has to be given back
to the primary. The primary itself is used as the last child when it fits (a market child of a
market parent, a limit child of a limit parent at its price), as Nautilus's own TWAP does; when
it does not, it is closed (``OrderCanceled``, Nautilus's own state for a primary its algorithm
closes) once the children have done its work.

Every child is judged by the owning strategy's pre-trade checks (``core.risk.pre_trade``): its
limits, velocity windows and trading state; a market child at the market when it is sent (the
last trade, else the mid), not at the parent's arrival price. A denied child is DENIED like the
strategy's own orders and the algorithm stops working that parent. A kill
(``TradingStateChanged`` to HALTED on ``events.risk``, which the node's kill switch and
``RiskEngine.set_trading_state`` publish) stops every parent of every algorithm at once and
cancels their working children; a parent or child cancelled from outside (the strategy's
``cancel_all_orders``) stops its parent too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from nautilus_trader.common.events import TimeEvent
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.algorithm import ExecAlgorithm
from nautilus_trader.model.enums import OrderSide, OrderStatus, OrderType, trading_state_to_str
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
)
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.model.orders import Order

from core.execution.algorithms.parent import ParamError, ParentWork, unsent_order_ids
from core.portfolio.marks import last_price
from core.risk import OrderIntent
from core.risk.pre_trade import AlertThrottle, PreTradeGate, admit_or_deny, apply_event, deny_order

_TIGHTNESS = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
_KEEP_STOPPED = 1_000

GateLookup = Callable[[StrategyId], PreTradeGate | None]


class DeskExecAlgorithm(ExecAlgorithm):
    """Base of the desk's algorithms: subclasses plan a parent in ``begin`` and react to its
    children in ``on_child_done``; sending, gating, stopping and the kill live here."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.gate_lookup: GateLookup | None = None
        """Finds the strategy whose checks a parent's children pass (set at registration)."""
        self.stopped: dict[str, str] = {}
        """Why each parent ended (``completed`` or the stop reason), by parent id."""
        self.working_at_stop: list[str] = []
        """Ids of the parents still worked when the algorithm stopped (a backtest's period
        ended, the node stopped): the algorithm closes them, the results report them."""
        self._parents: dict[ClientOrderId, ParentWork] = {}
        self._owner: dict[ClientOrderId, ClientOrderId] = {}
        self._throttle = AlertThrottle()
        self._state = "ACTIVE"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._timers = 0

    # -- lifecycle -------------------------------------------------------------------------

    def on_start(self) -> None:
        self.msgbus.subscribe(topic="events.risk", handler=self._on_risk_event)
        try:
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        except RuntimeError:
            self._loop = None  # a backtest: timers call back on the engine's own thread

    def on_stop(self) -> None:
        self.working_at_stop = [key.value for key in self._parents]
        for work in list(self._parents.values()):
            self.stop_parent(work, "algorithm stopped")
        self.msgbus.unsubscribe(topic="events.risk", handler=self._on_risk_event)

    @property
    def active_parents(self) -> list[str]:
        """Ids of the parents being worked now."""
        return [key.value for key in self._parents]

    # -- what subclasses provide -----------------------------------------------------------

    def begin(self, work: ParentWork, params: dict[str, Any]) -> None:
        """Plan ``work`` from its params and send what is due now (ParamError if bad)."""
        raise NotImplementedError

    def on_child_done(self, work: ParentWork, filled: bool) -> None:
        """A child closed (filled, or cancelled by this algorithm); send what is due."""

    def send_due(self, work: ParentWork) -> None:
        """Send what ``work`` has due now: called again when a child held back by the
        velocity limits may go (``send_child``)."""
        raise NotImplementedError

    # -- parents ---------------------------------------------------------------------------

    def on_order(self, order: Order) -> None:
        instrument = self.cache.instrument(order.instrument_id)
        if instrument is None:
            reason = f"instrument {order.instrument_id} is not in the cache"
            deny_order(self, order, reason, published=True)
            return
        if order.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            deny_order(self, order, f"{self.id} works MARKET or LIMIT parents only", published=True)
            return
        price = last_price(self.cache, order.instrument_id)
        work = ParentWork(
            primary=order,
            instrument=instrument,
            total=order.quantity.as_double(),
            arrival_price=None if price is None else price.as_double(),
        )
        self._parents[order.client_order_id] = work
        self._owner[order.client_order_id] = order.client_order_id
        if self._state == "HALTED":
            self.stop_parent(work, "trading is HALTED", deny=True)
            return
        try:
            self.begin(work, dict(order.exec_algorithm_params or {}))
        except ParamError as error:
            self.stop_parent(work, str(error), deny=True)

    def send_child(self, work: ParentWork, quantity: float, price: float | None) -> bool:
        """Send a child of ``quantity`` (a market order when ``price`` is None) through the
        owner's pre-trade checks; False (and the parent stopped) if it is denied."""
        instrument = work.instrument
        gate = None if self.gate_lookup is None else self.gate_lookup(work.primary.strategy_id)
        now = self.clock.timestamp_ns()
        if gate is not None and self._paced(work, gate, now):
            return True
        qty = instrument.make_qty(quantity)
        limit = None if price is None else instrument.make_price(price)
        order = self._child_order(work, qty, limit)
        if gate is None:
            reason = f"no pre-trade gate: strategy {order.strategy_id} is not a desk strategy"
            deny_order(self, order, reason, published=order is work.primary)
            self.stop_parent(work, reason)
            return False
        intent = OrderIntent(
            strategy_id=str(order.strategy_id),
            instrument_id=str(instrument.id),
            side="BUY" if order.side == OrderSide.BUY else "SELL",
            quantity=qty.as_double(),
            order_type="MARKET" if limit is None else "LIMIT",
            ts_ns=now,
            limit_price=None if limit is None else limit.as_double(),
            expected_price=self.market_price(instrument) if limit is None else None,
        )
        state = max(gate.trading_state, self._state, key=lambda s: _TIGHTNESS.get(s, 2))
        if order is not work.primary:
            self._owner[order.client_order_id] = work.primary.client_order_id
        verdict = admit_or_deny(
            gate, self, order, intent, self._throttle, state, published=order is work.primary
        )
        if not verdict.allowed:
            self.stop_parent(work, f"child {order.client_order_id} denied: {verdict.reason}")
            return False
        work.working[order.client_order_id] = order
        work.children += 1
        work.last_child_ns = now
        self.submit_order(order)
        return True

    def _paced(self, work: ParentWork, gate: PreTradeGate, now: int) -> bool:
        # A child the velocity windows would count too close to the limit waits: the parent
        # calls ``send_due`` again when it may go, and sizes and prices the child then.
        if "pace" in work.timers:
            return True  # already waiting: that call sends what is due then
        when = gate.risk.next_send_ns(str(work.primary.strategy_id), now)
        if when <= now:
            return False
        self.at_time(work, when, self.send_due, purpose="pace")
        return True

    def _child_order(self, work: ParentWork, qty: Quantity, limit: Price | None) -> Order:
        primary = work.primary
        last = (
            abs(work.remaining - qty.as_double()) < work.instrument.size_increment.as_double() / 2
        )
        fits = (limit is None and primary.order_type == OrderType.MARKET) or (
            limit is not None and primary.order_type == OrderType.LIMIT and primary.price == limit
        )
        if last and fits and not work.primary_sent and primary.status == OrderStatus.INITIALIZED:
            # The primary goes as the last child (Nautilus's idiom): the parent ends FILLED.
            if primary.quantity != qty:
                self._set_primary_quantity(primary, qty)
            work.primary_sent = True
            return primary
        if limit is None:
            return self.spawn_market(
                primary=primary,
                quantity=qty,
                time_in_force=primary.time_in_force,
                reduce_only=primary.is_reduce_only,
                reduce_primary=False,
            )
        return self.spawn_limit(
            primary=primary,
            quantity=qty,
            price=limit,
            reduce_only=primary.is_reduce_only,
            reduce_primary=False,
        )

    def cancel_child(self, work: ParentWork, order: Order) -> None:
        """Cancel a working child to send its rest again (a re-peg): not a reason to stop."""
        if order.is_closed or order.is_pending_cancel:
            return
        work.canceling.add(order.client_order_id)
        self.cancel_order(order)

    def stop_parent(self, work: ParentWork, reason: str, deny: bool = False) -> None:
        """Stop working ``work`` for ``reason``: cancel its working children and close (or,
        with ``deny``, deny) a primary not sent; late events of its orders are ignored."""
        key = work.primary.client_order_id
        if self._parents.pop(key, None) is None:
            return
        self.stopped[key.value] = reason
        if len(self.stopped) > _KEEP_STOPPED:
            del self.stopped[next(iter(self.stopped))]
        self._cancel_timer(work)
        for order in list(work.working.values()):
            if not order.is_closed and not order.is_pending_cancel:
                self.cancel_order(order)
        primary = work.primary
        if primary.status == OrderStatus.INITIALIZED:
            if deny:
                deny_order(self, primary, reason, published=True)
            else:
                self._close_primary(primary)
        for child in [c for c, parent in self._owner.items() if parent == key]:
            del self._owner[child]  # late events of its children are ignored
        if reason != "completed":
            self.log.warning(f"{self.id} stopped working {key}: {reason}")

    def _close_primary(self, primary: Order) -> None:
        now = self.clock.timestamp_ns()
        ids = unsent_order_ids(primary)
        apply_event(
            self, primary, OrderCanceled(**ids, event_id=UUID4(), ts_event=now, ts_init=now)
        )

    def _set_primary_quantity(self, primary: Order, qty: Quantity) -> None:
        now = self.clock.timestamp_ns()
        event = OrderUpdated(
            **unsent_order_ids(primary),
            quantity=qty,
            price=None,
            trigger_price=None,
            event_id=UUID4(),
            ts_event=now,
            ts_init=now,
        )
        apply_event(self, primary, event)

    # -- events ----------------------------------------------------------------------------

    def _work_of(self, client_order_id: ClientOrderId) -> ParentWork | None:
        parent = self._owner.get(client_order_id)
        return None if parent is None else self._parents.get(parent)

    def on_order_filled(self, event: OrderFilled) -> None:
        work = self._work_of(event.client_order_id)
        if work is None:
            return
        work.filled += event.last_qty.as_double()
        order = work.working.get(event.client_order_id)
        closed = order is not None and order.is_closed
        if closed:
            del work.working[event.client_order_id]
        if work.total - work.filled < work.instrument.size_increment.as_double() / 2:
            self.stop_parent(work, "completed")
        elif closed:
            self.on_child_done(work, filled=True)

    def on_order_canceled(self, event: OrderCanceled) -> None:
        work = self._work_of(event.client_order_id)
        if work is None:
            return
        work.working.pop(event.client_order_id, None)
        if event.client_order_id in work.canceling:
            work.canceling.discard(event.client_order_id)
            self.on_child_done(work, filled=False)
            return
        if event.client_order_id == work.primary.client_order_id:
            why = "cancelled by its strategy (a newer rebalance replaces it, or a cancel-all)"
            self.stop_parent(work, f"parent {event.client_order_id} {why}")
            return
        self.stop_parent(work, f"child {event.client_order_id} cancelled outside the algorithm")

    def on_order_denied(self, event: OrderDenied) -> None:
        self._refused(event.client_order_id, f"denied: {event.reason}")

    def on_order_rejected(self, event: OrderRejected) -> None:
        self._refused(event.client_order_id, f"rejected: {event.reason}")

    def on_order_expired(self, event: OrderExpired) -> None:
        self._refused(event.client_order_id, "expired")

    def _refused(self, client_order_id: ClientOrderId, why: str) -> None:
        work = self._work_of(client_order_id)
        if work is not None:
            work.working.pop(client_order_id, None)
            self.stop_parent(work, f"child {client_order_id} {why}")

    def _on_risk_event(self, event: object) -> None:
        if not isinstance(event, TradingStateChanged):
            return
        self._state = trading_state_to_str(event.state)
        if self._state == "HALTED":
            for work in list(self._parents.values()):
                self.stop_parent(work, "trading HALTED")

    # -- market and time -------------------------------------------------------------------

    def volume_since(self, instrument_id: InstrumentId, since_ns: int) -> float:
        """Volume traded in the instrument after ``since_ns``, from the cache's recent trades
        (the cache keeps the last 10,000 of each instrument: beyond that, it undercounts,
        which only makes a participation cap stricter)."""
        total = 0.0
        for tick in self.cache.trade_ticks(instrument_id):
            if tick.ts_event <= since_ns:
                break  # newest first
            total += tick.size.as_double()
        return total

    def market_price(self, instrument: Instrument) -> float | None:
        """Where a market child is expected to fill: the market when it is sent (the last
        trade, else the mid), not the parent's arrival price. A child sent minutes after
        arrival is judged (price tolerance, notional) at the price it will meet; the arrival
        price stays what the parent's shortfall is measured against."""
        price = last_price(self.cache, instrument.id)
        return None if price is None else price.as_double()

    def limit_price(self, instrument: Instrument, side: OrderSide, offset_bps: float) -> float:
        """The best price on the order's side (ask to buy, bid to sell; the last trade without
        quotes) moved ``offset_bps`` towards the other side (positive: more aggressive).

        Raises
        ------
        ParamError
            No price seen yet in the instrument.
        """
        quote = self.cache.quote_tick(instrument.id)
        if quote is not None:
            ref = (quote.ask_price if side == OrderSide.BUY else quote.bid_price).as_double()
        else:
            last = last_price(self.cache, instrument.id)
            if last is None:
                raise ParamError(f"no price for {instrument.id}: cannot price a limit child")
            ref = last.as_double()
        sign = 1.0 if side == OrderSide.BUY else -1.0
        return ref * (1.0 + sign * offset_bps / 10_000.0)

    def guarded(self, work: ParentWork, step: Callable[[ParentWork], None]) -> None:
        """Run ``step(work)``; a ParamError (no price to set a limit by) stops the parent."""
        try:
            step(work)
        except ParamError as error:
            self.stop_parent(work, str(error))

    def at_time(
        self,
        work: ParentWork,
        ts_ns: int,
        callback: Callable[[ParentWork], None],
        purpose: str = "slot",
    ) -> None:
        """Call ``callback(work)`` at ``ts_ns`` (one pending call per parent and ``purpose``),
        on the thread that owns the node's loop: a live clock's timer fires on a runtime
        thread, where orders would race the loop."""
        self._cancel_timer(work, purpose)
        self._timers += 1
        name = f"{self.id}-{work.primary.client_order_id}-{self._timers}"
        key = work.primary.client_order_id

        def fire(_: TimeEvent) -> None:
            if self._loop is not None and threading.get_ident() != self._loop_thread:
                self._loop.call_soon_threadsafe(run)
            else:
                run()

        def run() -> None:
            current = self._parents.get(key)
            if current is not None and current.timers.get(purpose) == name:
                del current.timers[purpose]
                self.guarded(current, callback)

        work.timers[purpose] = name
        self.clock.set_time_alert_ns(name, max(ts_ns, self.clock.timestamp_ns()), fire)

    def _cancel_timer(self, work: ParentWork, purpose: str | None = None) -> None:
        # One purpose's pending call, or (None) all of them.
        for key in [purpose] if purpose is not None else list(work.timers):
            name = work.timers.pop(key, None)
            if name is not None and name in self.clock.timer_names:
                self.clock.cancel_timer(name)
