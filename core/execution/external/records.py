"""How an external venue's answers become OMS records (as ``nautilus_feed`` does for Nautilus).

A venue is read by polling, so it reports states, not events: a record is made only when the
state differs from the one the OMS holds, and its ids are derived from the venue's ids and the
state, so writing the same state twice is one row (the OMS ignores a repeated key). Orders keep
the desk's ``client_order_id`` as their key; an order placed outside the desk is keyed
``VENUE-<venue order id>``.
"""

from __future__ import annotations

import msgspec

from core.execution.external.adapter import (
    ExternalBalance,
    ExternalFill,
    ExternalOrder,
    ExternalPosition,
    OrderRequest,
)
from core.oms.events import BalanceSnapshot, Fill, OrderEvent, PositionSnapshot

EXTERNAL_STRATEGY = "EXTERNAL"
"""Strategy id of orders and positions the desk did not place through a strategy."""
_EVENT_TYPES = {
    "ACCEPTED": "ACCEPTED",
    "PARTIALLY_FILLED": "FILLED",
    "FILLED": "FILLED",
    "CANCELED": "CANCELED",
    "REJECTED": "REJECTED",
}


def venue_of(instrument_id: str) -> str:
    """The venue part of ``SYMBOL.VENUE``."""
    return instrument_id.rpartition(".")[2]


def client_id(venue: str, order: ExternalOrder | ExternalFill) -> str:
    """The OMS key of a venue's order: the desk's client id, else one made from the venue's."""
    return order.client_order_id or f"{venue}-{order.venue_order_id}"


def submitted_event(request: OrderRequest, now_ns: int) -> OrderEvent:
    """The order as written before its request leaves: SUBMITTED, no venue id yet."""
    return OrderEvent(
        client_order_id=request.client_order_id,
        event_id=f"{request.client_order_id}:SUBMITTED",
        event_type="SUBMITTED",
        sequence=1,
        ts_event=now_ns,
        status="SUBMITTED",
        instrument_id=request.instrument_id,
        strategy_id=request.strategy_id,
        side=request.side,
        order_type=request.order_type,
        quantity=request.quantity,
        price=request.price,
        operation_id=request.operation_id,
        decision_price=request.decision_price,
        created_at=now_ns,
    )


def denied_event(request: OrderRequest, reason: str, now_ns: int) -> OrderEvent:
    """The desk refused the order before sending it (as Nautilus's risk engine denies)."""
    submitted = submitted_event(request, now_ns)
    return msgspec.structs.replace(
        submitted,
        event_id=f"{request.client_order_id}:DENIED",
        event_type="DENIED",
        status="DENIED",
        reason=reason,
    )


def rejected_event(previous: OrderEvent, reason: str, now_ns: int) -> OrderEvent:
    """The venue refused the order outright."""
    return _next(previous, "REJECTED", "REJECTED", now_ns, reason=reason)


def is_news(previous: OrderEvent | None, order: ExternalOrder) -> bool:
    """Whether the venue's ``order`` says more than the OMS's ``previous`` state.

    A closed order never reopens, and a fill never goes backwards: an answer read before a
    later one was written (a poll overtaken by a submit's reply) is old news.
    """
    if previous is None:
        return True
    if not previous.is_open or order.filled_qty < previous.filled_qty:
        return False
    return (
        previous.status != order.status
        or previous.filled_qty != order.filled_qty
        or previous.venue_order_id != order.venue_order_id
    )


def order_event(
    previous: OrderEvent | None, order: ExternalOrder, key: str, now_ns: int
) -> OrderEvent:
    """``order`` as the OMS's next event of ``key`` (the first, when ``previous`` is None)."""
    if previous is None:
        # An order the desk did not place: what the venue says of it stands for the request.
        request = OrderRequest(
            client_order_id=key,
            instrument_id=order.instrument_id,
            side=order.side,
            quantity=order.quantity,
            order_type=order.order_type,
            price=order.price,
        )
        previous = msgspec.structs.replace(submitted_event(request, order.ts_event), sequence=0)
    return _next(
        previous,
        _EVENT_TYPES.get(order.status, order.status),
        order.status,
        now_ns,
        filled_qty=order.filled_qty,
        avg_px=order.avg_px,
        venue_order_id=order.venue_order_id,
        reason=order.reason,
    )


def _next(
    previous: OrderEvent,
    event_type: str,
    status: str,
    now_ns: int,
    *,
    filled_qty: float | None = None,
    avg_px: float | None = None,
    venue_order_id: str | None = None,
    reason: str | None = None,
) -> OrderEvent:
    # What the desk said about the order (strategy, operation, order type) stays; the venue
    # tells only its state.
    sequence = previous.sequence + 1
    filled = previous.filled_qty if filled_qty is None else filled_qty
    return msgspec.structs.replace(
        previous,
        event_id=f"{previous.client_order_id}:{sequence}:{status}:{filled!r}",
        event_type=event_type,
        sequence=sequence,
        ts_event=max(now_ns, previous.ts_event),
        status=status,
        filled_qty=filled,
        avg_px=avg_px if avg_px is not None else previous.avg_px,
        venue_order_id=venue_order_id or previous.venue_order_id,
        reason=reason,
    )


def fill_record(fill: ExternalFill, order: OrderEvent | None, key: str, account_id: str) -> Fill:
    """One execution, tagged with its order's strategy, operation and decision price."""
    return Fill(
        trade_id=fill.trade_id,
        client_order_id=key,
        instrument_id=fill.instrument_id,
        strategy_id=EXTERNAL_STRATEGY if order is None else order.strategy_id,
        side=fill.side,
        quantity=fill.quantity,
        price=fill.price,
        commission=fill.commission,
        commission_currency=fill.commission_currency,
        liquidity_side=fill.liquidity_side,
        ts_event=fill.ts_event,
        venue_order_id=fill.venue_order_id,
        account_id=account_id,
        operation_id=None if order is None else order.operation_id,
        decision_price=None if order is None else order.decision_price,
    )


def position_id(instrument_id: str) -> str:
    """The OMS id of the venue's one (netted) position in ``instrument_id``."""
    return f"{instrument_id}-{EXTERNAL_STRATEGY}"


def position_snapshot(
    previous: PositionSnapshot | None,
    position: ExternalPosition | None,
    instrument_id: str,
    account_id: str,
    now_ns: int,
) -> PositionSnapshot:
    """The position as the venue reports it now; ``position`` None: the venue closed it."""
    was_open = previous is not None and previous.side != "FLAT"
    signed = 0.0 if position is None else position.signed_qty
    before = 0.0 if previous is None else previous.signed_qty
    if signed == 0:
        event_type, side = "CLOSED", "FLAT"
    else:
        event_type = "CHANGED" if was_open else "OPENED"
        side = "LONG" if signed > 0 else "SHORT"
    sequence = 1 if previous is None else previous.sequence + 1
    reference = position or previous
    assert reference is not None, "a position snapshot needs the venue's or the OMS's position"
    avg_open = reference.avg_px_open
    last_px = position.last_px if position is not None else previous.last_px  # type: ignore[union-attr]
    return PositionSnapshot(
        position_id=position_id(instrument_id),
        event_id=f"{position_id(instrument_id)}:{sequence}",
        event_type=event_type,
        sequence=sequence,
        ts_event=now_ns if previous is None else max(now_ns, previous.ts_event + 1),
        instrument_id=instrument_id,
        strategy_id=EXTERNAL_STRATEGY,
        account_id=account_id,
        side=side,
        signed_qty=signed,
        quantity=abs(signed),
        avg_px_open=avg_open,
        last_px=last_px,
        last_qty=abs(signed - before),
        realized_pnl=reference.realized_pnl if position is None else position.realized_pnl,
        unrealized_pnl=0.0 if position is None else position.unrealized_pnl,
        currency=reference.currency,
        ts_opened=previous.ts_opened if was_open and previous is not None else now_ns,
        ts_closed=now_ns if signed == 0 else None,
    )


def balance_snapshot(
    balance: ExternalBalance, account_id: str, account_type: str
) -> BalanceSnapshot:
    """One currency of the account as the venue reports it."""
    return BalanceSnapshot(
        account_id=account_id,
        currency=balance.currency,
        total=balance.total,
        locked=balance.locked,
        free=balance.free,
        ts_event=balance.ts_event,
        event_id=f"{account_id}:{balance.currency}:{balance.ts_event}",
        account_type=account_type,
    )
