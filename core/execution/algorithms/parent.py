"""A parent order as an algorithm works it, and its ``exec_algorithm_params``.

``ParentWork`` is the algorithm's own account of a parent (what it asks, what has filled, what
is out); ``number`` and ``choice`` read one parameter with the config's default, refusing a bad
value with a one-line ``ParamError`` that denies the parent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order


class ParamError(ValueError):
    """A bad ``exec_algorithm_params`` value: the parent is denied with this one line."""


@dataclass
class ParentWork:
    """One parent being worked: what it asks, what is done, what is out."""

    primary: Order
    instrument: Instrument
    total: float
    """The parent's quantity at arrival: the algorithm is done when this much has filled."""
    arrival_price: float | None
    """The last price when the parent arrived: what its shortfall is measured against (each
    market child is judged at the market when it is sent, ``DeskExecAlgorithm.market_price``)."""
    filled: float = 0.0
    working: dict[ClientOrderId, Order] = field(default_factory=dict)
    """Children sent and not yet closed."""
    canceling: set[ClientOrderId] = field(default_factory=set)
    """Children this algorithm is cancelling itself (re-pegging): not a reason to stop."""
    children: int = 0
    """Children sent (the primary counted if it went as the last one)."""
    last_child_ns: int | None = None
    timers: dict[str, str] = field(default_factory=dict)
    """The pending clock alert of each purpose (``slot``: the schedule's next slot; ``pace``:
    a child held back by the velocity limits), by purpose."""
    primary_sent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    """The algorithm's own schedule (slots, display quantity, limit price...)."""

    @property
    def working_qty(self) -> float:
        """Unfilled quantity of the children out: counted as in flight until they close."""
        return sum(order.leaves_qty.as_double() for order in self.working.values())

    @property
    def remaining(self) -> float:
        """What no child covers yet."""
        return self.total - self.filled - self.working_qty


MIN_NOTIONAL_MARGIN = 0.05
"""Headroom over a venue's minimum notional when sizing a child ahead of its send: the price
may move between the plan and the child (5%: far beyond a horizon's usual move)."""


def min_tradable(instrument: Instrument, price: float | None) -> float:
    """The smallest child the venue takes at about ``price``, in whole lots: its minimum
    quantity, or its minimum notional (with ``MIN_NOTIONAL_MARGIN``) at ``price`` if larger;
    one lot when the venue sets neither (no price: the minimum quantity alone)."""
    lot = instrument.size_increment.as_double()
    smallest = lot
    if instrument.min_quantity is not None:
        smallest = max(smallest, instrument.min_quantity.as_double())
    min_notional = instrument.min_notional
    if min_notional is not None and price is not None and price > 0:
        units = (
            min_notional.as_double()
            * (1 + MIN_NOTIONAL_MARGIN)
            / (price * float(instrument.multiplier))
        )
        smallest = max(smallest, math.ceil(units / lot - 1e-9) * lot)
    return smallest


def number(params: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    """``params[key]`` as a number within ``[low, high]``, else ``default``.

    Raises
    ------
    ParamError
        The value is not a number or is out of range (one line naming the key).
    """
    value = params.get(key, default)
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise ParamError(f"exec_algorithm_params.{key}: {value!r} is not a number") from None
    if not low <= parsed <= high:
        raise ParamError(f"exec_algorithm_params.{key}: {parsed:g} is not in [{low:g}, {high:g}]")
    return parsed


def choice(params: dict[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    """``params[key]`` as one of ``allowed``, else ``default`` (ParamError otherwise)."""
    value = str(params.get(key, default))
    if value not in allowed:
        raise ParamError(f"exec_algorithm_params.{key}: {value!r} is not one of {allowed}")
    return value


def unsent_order_ids(order: Order) -> dict[str, Any]:
    """The identifiers an event of an order no venue has seen carries (no venue order id,
    no account yet): for the events an algorithm makes for its parent itself."""
    return {
        "trader_id": order.trader_id,
        "strategy_id": order.strategy_id,
        "instrument_id": order.instrument_id,
        "client_order_id": order.client_order_id,
        "venue_order_id": None,
        "account_id": None,
    }
