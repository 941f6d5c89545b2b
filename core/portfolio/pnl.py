"""Profit and loss by average cost: what a period's trading made, split so that it adds up.

A ``Ledger`` covers one period (the node's session, or one UTC day of it). Each instrument
starts the period either flat or holding what it held then, *at that moment's mark* (a holding
carried in costs its mark, so a period's PnL is only what happened in the period). Every fill
then moves it by average cost:

- a fill that adds to a holding (or opens one) moves the average cost;
- a fill that reduces it realizes ``closed quantity x (fill price - average cost)`` (signed by
  the side held), and one that goes through zero opens the rest at the fill price.

``realized`` is gross of fees: fees (the fills' commissions) are their own figure, so nothing
is counted twice. (Nautilus's ``Position.realized_pnl`` has the commissions taken off, and
starts again when a netting position closes and reopens: it is neither figure here.)
``unrealized`` is ``quantity x (mark - average cost)``, at the mark given. ``funding`` is what
perpetual funding paid (+) or cost (-); spot and the sandbox pay none, so it stays 0 there.

For an account whose cash moves with every fill (``-quantity x price - fee``) and whose equity
is ``cash + quantity x mark``, average cost makes the identity exact::

    equity now - equity at the period's start = realized + unrealized - fees + funding

because ``realized + quantity x average cost`` is always what the fills paid out, plus the
carried-in holdings at their starting marks.

May import: nothing of core (plain arithmetic; the node feeds it Nautilus's values).
"""

from __future__ import annotations

from dataclasses import dataclass

_QUANTITY_DECIMALS = 10


@dataclass
class Holding:
    """One instrument's part of a ledger."""

    quantity: float = 0.0
    """Signed: long above 0, short below."""
    average_cost: float = 0.0
    """What the quantity held cost, per unit (0 when flat)."""
    realized: float = 0.0
    fees: float = 0.0
    funding: float = 0.0

    def unrealized(self, mark: float | None) -> float:
        """``quantity x (mark - average cost)``; 0 when flat or unmarked."""
        if mark is None or self.quantity == 0.0:
            return 0.0
        return self.quantity * (mark - self.average_cost)


class Ledger:
    """One period's PnL by instrument (see the module docstring)."""

    def __init__(self) -> None:
        self.holdings: dict[str, Holding] = {}

    def holding(self, instrument_id: str) -> Holding:
        """The instrument's holding (flat and empty if never seen)."""
        found = self.holdings.get(instrument_id)
        if found is None:
            found = self.holdings[instrument_id] = Holding()
        return found

    def carry_in(self, instrument_id: str, quantity: float, mark: float) -> None:
        """Start the period holding ``quantity`` valued at ``mark`` (its cost in this period)."""
        holding = self.holding(instrument_id)
        holding.quantity = quantity
        holding.average_cost = mark if quantity != 0.0 else 0.0

    def fill(self, instrument_id: str, signed_quantity: float, price: float, fee: float) -> None:
        """Apply one execution: ``signed_quantity`` above 0 bought, below 0 sold, at ``price``,
        paying ``fee`` (in the valuation currency)."""
        holding = self.holding(instrument_id)
        holding.fees += fee
        held = holding.quantity
        if held == 0.0 or (held > 0.0) == (signed_quantity > 0.0):
            total = abs(held) + abs(signed_quantity)
            holding.average_cost = (
                abs(held) * holding.average_cost + abs(signed_quantity) * price
            ) / total
            holding.quantity = _settled(held + signed_quantity)
            return
        closed = min(abs(signed_quantity), abs(held))
        direction = 1.0 if held > 0.0 else -1.0
        holding.realized += closed * (price - holding.average_cost) * direction
        after = _settled(held + signed_quantity)
        holding.quantity = after
        if after == 0.0:
            holding.average_cost = 0.0
        elif (after > 0.0) != (held > 0.0):  # through zero: the rest opens at this price
            holding.average_cost = price

    def fund(self, instrument_id: str, amount: float) -> None:
        """Funding received (+) or paid (-) on the instrument's holding."""
        self.holding(instrument_id).funding += amount


def _settled(quantity: float) -> float:
    # Quantities have at most 9 decimals (Nautilus's precision): 0.3 - 0.1 - 0.1 - 0.1 is flat,
    # not -2.8e-17 short.
    return round(quantity, _QUANTITY_DECIMALS) + 0.0
