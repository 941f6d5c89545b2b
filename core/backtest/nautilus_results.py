"""Orders and fills out of a finished Nautilus engine, as the desk's result columns.

Read from the engine's cache (every order with its whole event history) rather than from
Nautilus's pandas reports: the desk's columns need the order tags (operation id, decision price)
and the rejection or denial reason, which the reports flatten away.
"""

from __future__ import annotations

from collections import defaultdict

from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.enums import PriceType
from nautilus_trader.model.events import OrderDenied, OrderFilled, OrderRejected
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Money, Price, Quantity

from core.execution.strategy import parse_tags


def _exact(value: Price | Quantity | Money) -> float:
    # as_double() divides a 16-decimal fixed-point integer and can land one ulp off the grid
    # (94403.85 -> 94403.84999999999); the decimal gives the float nearest the real value, so a
    # fill price in the results equals the traded price it came from.
    return float(value.as_decimal())


def order_rows(cache: Cache) -> list[dict]:
    """One row per order (the columns of ``orders.parquet``, timestamps in ns).

    ``created_at`` is when the order was made: for a rebalance order or an algorithm's parent,
    the decision time (a parent's children come later, each with its own row and time).
    A parent's row says what was asked and what became of it: ``quantity`` is its original
    quantity (Nautilus resizes a primary sent as the last slice), ``filled_quantity`` what it
    and its children filled, ``status`` FILLED once that is all of it (Nautilus closes a
    primary its children filled as CANCELED), else the primary's own state.
    """
    orders = cache.orders()
    family_filled: dict[str, float] = defaultdict(float)
    for order in orders:
        if order.exec_spawn_id is not None:
            family_filled[order.exec_spawn_id.value] += _exact(order.filled_qty)
    rows = []
    for order in sorted(orders, key=lambda o: (o.ts_init, o.client_order_id.value)):
        operation_id, _ = parse_tags(order.tags)
        reason = None
        for event in order.events:
            if isinstance(event, OrderRejected | OrderDenied):
                reason = event.reason
        price = getattr(order, "price", None)
        quantity, filled, status = _exact(order.quantity), _exact(order.filled_qty), None
        if order.exec_spawn_id == order.client_order_id:  # a parent an algorithm worked
            quantity = _exact(order.init_event.quantity)
            precision = order.quantity.precision
            filled = round(family_filled[order.client_order_id.value], precision)
            half_lot = 0.5 * 10.0**-precision
            status = "FILLED" if filled >= quantity - half_lot else None
        rows.append(
            {
                "order_id": order.client_order_id.value,
                "operation_id": operation_id,
                "instrument_key": order.instrument_id.value,
                "side": order.side_string(),
                "order_type": order.type_string(),
                "quantity": quantity,
                "filled_quantity": filled,
                "price": None if price is None else _exact(price),
                "status": status or order.status_string(),
                "created_at": order.ts_init,
                "updated_at": order.ts_last,
                "rejection_reason": reason,
            }
        )
    return rows


def fill_rows(cache: Cache) -> list[dict]:
    """One row per fill (the columns of ``fills.parquet`` plus ``decision_price``), in time order.

    ``decision_price`` is the price the strategy decided at (from the order's tags), from which
    slippage is measured.
    """
    rows = []
    for order in cache.orders():
        _, decision_price = parse_tags(order.tags)
        for event in order.events:
            if not isinstance(event, OrderFilled):
                continue
            rows.append(
                {
                    "fill_id": f"{order.client_order_id.value}-{event.trade_id.value}",
                    "order_id": order.client_order_id.value,
                    "instrument_key": event.instrument_id.value,
                    "side": "BUY" if event.is_buy else "SELL",
                    "quantity": _exact(event.last_qty),
                    "price": _exact(event.last_px),
                    "fee": _exact(event.commission),
                    "fee_currency": event.commission.currency.code,
                    "ts_event": event.ts_event,
                    "venue": event.instrument_id.venue.value,
                    "decision_price": decision_price,
                }
            )
    rows.sort(key=lambda r: (r["ts_event"], r["fill_id"]))
    return rows


def last_trade_prices(cache: Cache, instrument_ids: list[str]) -> dict[str, float]:
    """The last traded price of each instrument that traded at all (for end-of-run marks)."""
    prices = {}
    for key in instrument_ids:
        price = cache.price(InstrumentId.from_str(key), PriceType.LAST)
        if price is not None:
            prices[key] = _exact(price)
    return prices
