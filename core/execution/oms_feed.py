"""``OmsFeed``: the actor that turns the node's Nautilus events into OMS records.

It listens on the message bus, where the execution engine publishes every order event after
applying it to the cached order (``events.order.*``), every position event
(``events.position.*``), every account state (``events.account.*``) and trading-state changes
(``events.risk``). Each handler converts and hands the records to ``submit`` (normally
``OmsStore.submit``), which only queues them: the node's event loop never waits on the disk.

An order event is stored with the order's state right after it, read from the cache (the
initialisation, published before the order reaches the cache, carries that state itself).
A fill is stored three ways: as the order's FILLED event, as a fill, and, when the order's tags
hold the price the strategy decided at, as a drift observation against that price. A denied
order and a trading-state change are also risk alerts.

A conversion that fails is logged and counted in ``errors``; it never propagates into the
engine, which would stop trading for a bookkeeping problem.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import msgspec
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.messages import TradingStateChanged
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.enums import (
    PriceType,
    account_type_to_str,
    liquidity_side_to_str,
    order_side_to_str,
    order_type_to_str,
    position_side_to_str,
    trading_state_to_str,
)
from nautilus_trader.model.events import AccountState, OrderDenied, OrderFilled, OrderInitialized
from nautilus_trader.model.events import OrderEvent as NautilusOrderEvent
from nautilus_trader.model.events import PositionEvent as NautilusPositionEvent
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.model.orders import Order

from core.execution.strategy import parse_tags
from core.oms.events import (
    BalanceSnapshot,
    DriftObservation,
    Fill,
    OrderEvent,
    PositionSnapshot,
    Record,
    RiskAlert,
    TradingStateRecord,
)
from core.oms.state_origin import full_text
from core.risk import Rule
from core.risk.drift import DriftTracker

TOPICS = ("events.order.*", "events.position.*", "events.account.*", "events.risk")
_DESK_RULES = frozenset(str(rule) for rule in Rule)
_SEVERITY_BY_STATE = {"ACTIVE": "INFO", "REDUCING": "WARNING", "HALTED": "CRITICAL"}


class OmsFeedConfig(ActorConfig, frozen=True):
    """What the feed adds to the events it copies."""

    drift_threshold_bps: float = 25.0
    """A fill further than this from its decision price is marked over the threshold."""
    run_id: str | None = None
    """The backtest whose events these are; None for the node. Stamped on every record, so
    that the next backtest can clear this one's rows (``core.oms.events.BacktestStarted``)."""
    balances: bool = True
    """Whether account states are recorded (each fill brings one, with every currency)."""


class OmsFeed(Actor):
    """Copies the node's order, position, account and risk events into the OMS.

    ``submit`` receives each record; pass ``OmsStore.submit``.
    """

    def __init__(
        self,
        config: OmsFeedConfig,
        submit: Callable[[Record], None],
        drift: DriftTracker | None = None,
    ) -> None:
        super().__init__(config)
        threshold = config.drift_threshold_bps
        if not (math.isfinite(threshold) and threshold >= 0):
            raise ValueError(f"drift_threshold_bps must be >= 0, got {threshold}")
        self._submit = submit
        self._drift = drift
        """The live node's tracker: fills measured against the decision and the market, with
        the drift log and alerts. Without it (a backtest), only the decision drift is kept."""
        self._run_id = config.run_id
        self._handlers = {
            "events.order.*": self._on_order_event,
            "events.position.*": self._on_position_event,
            "events.risk": self._on_risk_event,
        }
        if config.balances:
            self._handlers["events.account.*"] = self._on_account_state
        self.errors = 0
        """Events that could not be converted (each is logged)."""
        self.state_origin: TradingStateRecord | None = None
        """The change the node is applying (its ``NodeSession`` sets it just before): the
        trading-state alert says who made it, from where, when and why."""

    def on_start(self) -> None:
        for topic, handler in self._handlers.items():
            self.msgbus.subscribe(topic, handler)
        # Accounts exist before the feed starts: without this the OMS would show no balance
        # until the first fill.
        if "events.account.*" in self._handlers:
            for account in self.cache.accounts():
                if account.last_event is not None:
                    self._on_account_state(account.last_event)

    def on_stop(self) -> None:
        for topic, handler in self._handlers.items():
            self.msgbus.unsubscribe(topic, handler)

    def _guarded(self, event: object, convert: Callable[[], list[Record]]) -> None:
        try:
            records = convert()
        except Exception as error:  # never into the engine: see module docstring
            self.errors += 1
            # repr only here: an event's repr costs more than converting it.
            self.log.error(f"OMS feed cannot record {event!r}: {type(error).__name__}: {error}")
            return
        if self._run_id is not None:
            records = [msgspec.structs.replace(r, run_id=self._run_id) for r in records]
        for record in records:
            self._submit(record)

    def _on_order_event(self, event: NautilusOrderEvent) -> None:
        self._guarded(event, lambda: self.order_records(event))

    def _on_position_event(self, event: NautilusPositionEvent) -> None:
        position = self.cache.position(event.position_id)
        sequence = 0 if position is None else position.event_count
        self._guarded(event, lambda: [position_snapshot(event, sequence)])

    def _on_account_state(self, event: AccountState) -> None:
        self._guarded(event, lambda: balance_snapshots(event))

    def _on_risk_event(self, event: object) -> None:
        if isinstance(event, TradingStateChanged):
            self._guarded(event, lambda: [trading_state_alert(event, self.state_origin)])

    def order_records(self, event: NautilusOrderEvent) -> list[Record]:
        """Every record ``event`` makes, reading the order's state from the cache."""
        if isinstance(event, OrderInitialized):
            return [initialized_event(event)]
        order = self.cache.order(event.client_order_id)
        if order is None:
            raise LookupError(f"order {event.client_order_id} is not in the cache")
        records: list[Record] = [order_event(event, order)]
        if isinstance(event, OrderFilled):
            fill = fill_record(event, order)
            records.append(fill)
            if self._drift is not None:
                records.extend(self._measure(fill, event))
            elif fill.decision_price is not None and fill.decision_price > 0:
                records.append(
                    DriftObservation.measure(
                        fill, fill.decision_price, "decision", self.config.drift_threshold_bps
                    )
                )
        elif isinstance(event, OrderDenied):
            records.append(denied_alert(event))
        return records

    def _measure(self, fill: Fill, event: OrderFilled) -> list[Record]:
        assert self._drift is not None
        # The market at fill time: the mid when quotes exist, else the last trade.
        mid = self.cache.price(event.instrument_id, PriceType.MID)
        if mid is not None:
            measured = self._drift.on_fill(fill, mid.as_double(), "mid")
        else:
            last = self.cache.price(event.instrument_id, PriceType.LAST)
            measured = self._drift.on_fill(fill, None if last is None else last.as_double(), "last")
        records: list[Record] = list(measured.observations)
        if measured.alert is not None:
            records.append(measured.alert)
        return records


def _exact(value: Price | Quantity | Money) -> float:
    # The decimal, not as_double(): 94403.85 must not become 94403.84999999999 (see
    # core.backtest.nautilus_results).
    return float(value.as_decimal())


def _event_type(event: object, prefix: str) -> str:
    # OrderPendingUpdate -> PENDING_UPDATE, PositionOpened -> OPENED
    name = type(event).__name__.removeprefix(prefix)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def initialized_event(event: OrderInitialized) -> OrderEvent:
    """The first event of an order: everything about it is in the event."""
    operation_id, decision_price = parse_tags(event.tags)
    price = event.options.get("price")
    return OrderEvent(
        client_order_id=event.client_order_id.value,
        event_id=event.id.value,
        event_type="INITIALIZED",
        sequence=1,
        ts_event=event.ts_event,
        status="INITIALIZED",
        instrument_id=event.instrument_id.value,
        strategy_id=event.strategy_id.value,
        side=order_side_to_str(event.side),
        order_type=order_type_to_str(event.order_type),
        quantity=_exact(event.quantity),
        price=None if price is None else float(price),
        operation_id=operation_id,
        decision_price=decision_price,
        created_at=event.ts_init,
        parent_order_id=parent_of(event.client_order_id, event.exec_spawn_id),
    )


def order_event(event: NautilusOrderEvent, order: Order) -> OrderEvent:
    """``event`` with the state of ``order`` (to which it was just applied)."""
    operation_id, decision_price = parse_tags(order.tags)
    price = getattr(order, "price", None)
    filled = _exact(order.filled_qty)
    return OrderEvent(
        client_order_id=event.client_order_id.value,
        event_id=event.id.value,
        event_type=_event_type(event, "Order"),
        sequence=_sequence(order, event),
        ts_event=event.ts_event,
        status=order.status_string(),
        instrument_id=order.instrument_id.value,
        strategy_id=order.strategy_id.value,
        side=order.side_string(),
        order_type=order.type_string(),
        quantity=_exact(order.quantity),
        price=None if price is None else _exact(price),
        filled_qty=filled,
        avg_px=float(order.avg_px) if filled > 0 else None,
        venue_order_id=None if order.venue_order_id is None else order.venue_order_id.value,
        reason=getattr(event, "reason", None),
        operation_id=operation_id,
        decision_price=decision_price,
        created_at=order.ts_init,
        parent_order_id=parent_of(order.client_order_id, order.exec_spawn_id),
    )


def parent_of(client_order_id: ClientOrderId, exec_spawn_id: ClientOrderId | None) -> str | None:
    """The parent of an execution algorithm's child: its ``exec_spawn_id`` when that is another
    order (a parent's own spawn id is itself)."""
    if exec_spawn_id is None or exec_spawn_id == client_order_id:
        return None
    return exec_spawn_id.value


def _sequence(order: Order, event: NautilusOrderEvent) -> int:
    # The event is normally the order's last; search from the end in case it is not.
    events = order.events
    for index in range(len(events) - 1, -1, -1):
        if events[index].id == event.id:
            return index + 1
    return len(events)


def fill_record(event: OrderFilled, order: Order) -> Fill:
    """One execution, tagged with the operation and decision price of its order."""
    operation_id, decision_price = parse_tags(order.tags)
    return Fill(
        trade_id=event.trade_id.value,
        client_order_id=event.client_order_id.value,
        instrument_id=event.instrument_id.value,
        strategy_id=event.strategy_id.value,
        side=order_side_to_str(event.order_side),
        quantity=_exact(event.last_qty),
        price=_exact(event.last_px),
        commission=_exact(event.commission),
        commission_currency=event.commission.currency.code,
        liquidity_side=liquidity_side_to_str(event.liquidity_side),
        ts_event=event.ts_event,
        venue_order_id=None if event.venue_order_id is None else event.venue_order_id.value,
        position_id=None if event.position_id is None else event.position_id.value,
        account_id=None if event.account_id is None else event.account_id.value,
        operation_id=operation_id,
        decision_price=decision_price,
    )


def position_snapshot(event: NautilusPositionEvent, sequence: int) -> PositionSnapshot:
    """The position as ``event`` left it; ``sequence`` is its fill count then."""
    realized = event.realized_pnl
    return PositionSnapshot(
        position_id=event.position_id.value,
        event_id=event.id.value,
        event_type=_event_type(event, "Position"),
        sequence=sequence,
        ts_event=event.ts_event,
        instrument_id=event.instrument_id.value,
        strategy_id=event.strategy_id.value,
        account_id=event.account_id.value,
        side=position_side_to_str(event.side),
        signed_qty=float(event.signed_qty),
        quantity=_exact(event.quantity),
        avg_px_open=float(event.avg_px_open),
        avg_px_close=float(event.avg_px_close) if event.avg_px_close else None,
        last_px=_exact(event.last_px),
        last_qty=_exact(event.last_qty),
        realized_pnl=0.0 if realized is None else _exact(realized),
        unrealized_pnl=_exact(event.unrealized_pnl),
        currency=event.currency.code,
        ts_opened=event.ts_opened,
        ts_closed=event.ts_closed or None,
    )


def balance_snapshots(event: AccountState) -> list[BalanceSnapshot]:
    """One snapshot per currency the account state lists."""
    account_type = account_type_to_str(event.account_type)
    return [
        BalanceSnapshot(
            account_id=event.account_id.value,
            currency=balance.currency.code,
            total=_exact(balance.total),
            locked=_exact(balance.locked),
            free=_exact(balance.free),
            ts_event=event.ts_event,
            event_id=event.id.value,
            account_type=account_type,
        )
        for balance in event.balances
    ]


def denied_alert(event: OrderDenied) -> RiskAlert:
    """The risk engine (or the strategy) refused an order before it reached the venue.

    A denial by the desk's pre-trade checks has the reason ``rule: values and limit``: the
    alert carries that rule (ERROR); one by Nautilus's own engine is ``order_denied``.
    """
    order_id = event.client_order_id.value
    rule, _, _ = event.reason.partition(": ")
    desk_rule = rule in _DESK_RULES
    return RiskAlert(
        alert_id=event.id.value,
        ts_event=event.ts_event,
        severity="ERROR" if desk_rule else "WARNING",
        rule=rule if desk_rule else "order_denied",
        message=f"{order_id} denied: {event.reason}",
        instrument_id=event.instrument_id.value,
        details={"client_order_id": order_id, "reason": event.reason},
    )


def trading_state_alert(
    event: TradingStateChanged, origin: TradingStateRecord | None = None
) -> RiskAlert:
    """The trading state changed (the kill switch halts, re-arming makes it ACTIVE again).

    With the ``origin`` of the change, the alert says who, from where, when and why:
    ``trading state HALTED by ops@box from a shell at ...: fat finger``. A flatten passes
    through REDUCING on its way to HALTED: ``trading state REDUCING (for HALTED (flatten) by
    ...)``.
    """
    state = trading_state_to_str(event.state)
    details: dict[str, object] = {"state": state}
    message = f"trading state {state}"
    if origin is not None:
        text = full_text(origin)
        message = f"trading state {text}" if origin.state == state else f"{message} (for {text})"
        details.update(
            actor=origin.actor, source=origin.source, host=origin.host, reason=origin.reason
        )
    return RiskAlert(
        alert_id=event.id.value,
        ts_event=event.ts_event,
        severity=_SEVERITY_BY_STATE.get(state, "WARNING"),
        rule="trading_state",
        message=message,
        details=details,
    )
