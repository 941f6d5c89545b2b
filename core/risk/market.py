"""What the risk checks look at: the order about to be sent and a snapshot of the book.

Plain values only (strings, floats, ns timestamps), so that a backtest, the node and the
rebalance preview build them from Nautilus's cache the same way, and a test builds them by
hand. ``MarketView`` sums the book once when it is built (per instrument, per strategy, for the
desk), so checking an order against it costs a few look-ups, however many instruments it holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from core.portfolio.rebalance import InstrumentRules

Side = Literal["BUY", "SELL"]
OrderType = Literal["MARKET", "LIMIT"]


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the caller is about to submit.

    A bad field is a programming error of the caller (like the OMS records) and raises
    ``ValueError``: it never reaches the venue, and never reaches the checks either.
    """

    strategy_id: str
    instrument_id: str
    side: Side
    quantity: float
    """Unsigned, > 0, in the instrument's quantity unit."""
    order_type: OrderType
    ts_ns: int
    """When the order is sent (the backtest's or the node's clock): the velocity windows'
    time."""
    limit_price: float | None = None
    """The limit price; None for a market order."""
    expected_price: float | None = None
    """Where a market order is expected to fill (the caller's last or mid); None: at the
    view's reference price (last, else mid)."""
    worked: bool = False
    """A parent an execution algorithm works (TWAP, VWAP, iceberg): it never reaches the venue
    whole, and each child is checked as it goes out, so the parent skips the per-order caps and
    the velocity windows; it is still judged for the position and exposure it leads to."""

    def __post_init__(self) -> None:
        if self.side not in ("BUY", "SELL"):
            raise ValueError(f"OrderIntent.side: {self.side!r} is not BUY or SELL")
        if not _positive(self.quantity):
            raise ValueError(f"OrderIntent.quantity: {self.quantity!r} is not a positive number")
        if self.order_type == "LIMIT":
            if not _positive(self.limit_price):
                raise ValueError(f"OrderIntent.limit_price: {self.limit_price!r} is not positive")
        elif self.order_type == "MARKET":
            if self.limit_price is not None:
                raise ValueError("OrderIntent.limit_price: a MARKET order has no limit price")
        else:
            raise ValueError(f"OrderIntent.order_type: {self.order_type!r} is not MARKET/LIMIT")
        if self.expected_price is not None and not _positive(self.expected_price):
            raise ValueError(
                f"OrderIntent.expected_price: {self.expected_price!r} is not a positive number"
            )

    @property
    def signed_quantity(self) -> float:
        """The quantity with the order's direction: positive buys, negative sells."""
        return self.quantity if self.side == "BUY" else -self.quantity


@dataclass(frozen=True, slots=True)
class InstrumentMarket:
    """One instrument as the checks see it: its prices, its venue rules, its multiplier.

    A price that is not a positive finite number counts as missing (an order in an instrument
    with neither price is denied, not guessed at).
    """

    last: float | None = None
    """Last trade price."""
    mid: float | None = None
    """Mid of the best bid and ask."""
    rules: InstrumentRules | None = None
    """Lot size, minimum quantity and notional of the venue; None skips those checks (the
    venue's own checks still apply)."""
    multiplier: float = 1.0
    """Notional of a quantity = quantity * price * multiplier (1 for spot)."""

    @property
    def reference(self) -> float | None:
        """The price orders and positions are measured against: last, else mid, else None."""
        if _positive(self.last):
            return self.last
        if _positive(self.mid):
            return self.mid
        return None


class MarketView:
    """A snapshot of the book for the risk checks: equity, positions, instruments.

    ``positions`` should be what the book will be if every order already sent fills (the
    filled position plus the signed remainder of open orders): an order is then measured
    against everything in flight, and two sells of one whole position cannot both pass as
    "reducing". Positions in instruments without a reference price cannot be valued: orders
    that would grow a notional or exposure total including them are denied (``no price``).

    Parameters
    ----------
    equity : float
        Account value in the valuation currency (exposures are notionals over it).
    positions : Mapping[tuple[str, str], float]
        Signed quantity per (strategy id, instrument id); absent is flat.
    instruments : Mapping[str, InstrumentMarket]
        Prices, venue rules and multiplier per instrument id.
    """

    __slots__ = (
        "account_gross",
        "account_net",
        "equity",
        "global_notional",
        "instruments",
        "net_quantity",
        "positions",
        "references",
        "strategy_notional",
        "strategy_unpriced",
        "unpriced",
    )

    def __init__(
        self,
        equity: float,
        positions: Mapping[tuple[str, str], float],
        instruments: Mapping[str, InstrumentMarket],
    ) -> None:
        self.equity = equity
        self.positions = {key: qty for key, qty in positions.items() if qty != 0}
        self.instruments = dict(instruments)
        self.references: dict[str, float] = {}
        """Reference price (last, else mid) per instrument that has one."""
        for instrument_id, market in self.instruments.items():
            reference = market.reference
            if reference is not None:
                self.references[instrument_id] = reference
        self.net_quantity: dict[str, float] = {}
        """Signed quantity per instrument, all strategies together (the account's position)."""
        self.strategy_notional: dict[str, float] = {}
        """Sum of a strategy's absolute positions, valued at reference prices."""
        self.strategy_unpriced: dict[str, str] = {}
        """Per strategy, an instrument it holds that has no price (its notional is unknown)."""
        for (strategy_id, instrument_id), quantity in sorted(self.positions.items()):
            self.net_quantity[instrument_id] = self.net_quantity.get(instrument_id, 0.0) + quantity
            value = self.value_of(instrument_id, abs(quantity))
            if value is None:
                self.strategy_unpriced.setdefault(strategy_id, instrument_id)
                value = 0.0
            self.strategy_notional[strategy_id] = (
                self.strategy_notional.get(strategy_id, 0.0) + value
            )
        self.global_notional = sum(self.strategy_notional.values())
        """Sum of every strategy's absolute positions."""
        self.unpriced: str | None = None
        """An instrument held (by any strategy) without a price; None when all are valued."""
        self.account_gross = 0.0
        """Sum of the account's absolute positions per instrument (strategies netted)."""
        self.account_net = 0.0
        """Sum of the account's signed positions (its net exposure, signed)."""
        for instrument_id, quantity in self.net_quantity.items():
            value = self.value_of(instrument_id, quantity)
            if value is None:
                if quantity != 0 and self.unpriced is None:
                    self.unpriced = instrument_id
                continue
            self.account_gross += abs(value)
            self.account_net += value
        if self.unpriced is None and self.strategy_unpriced:
            self.unpriced = min(self.strategy_unpriced.values())

    def value_of(self, instrument_id: str, quantity: float) -> float | None:
        """Notional of ``quantity`` (signed or not) at the reference price; None without one."""
        reference = self.references.get(instrument_id)
        if reference is None:
            return None
        return quantity * reference * self.instruments[instrument_id].multiplier

    def position(self, strategy_id: str, instrument_id: str) -> float:
        """A strategy's signed quantity in an instrument (0 when flat)."""
        return self.positions.get((strategy_id, instrument_id), 0.0)

    def after(self, intent: OrderIntent) -> MarketView:
        """The view as it will be if ``intent`` fills: check a batch of orders in sequence
        (a rebalance's sells free room for its buys) by checking each against the last."""
        positions = dict(self.positions)
        strategy_id, instrument_id = key = (intent.strategy_id, intent.instrument_id)
        signed = intent.signed_quantity
        own = positions.get(key, 0.0)
        if own + signed == 0:
            positions.pop(key, None)
        else:
            positions[key] = own + signed
        reference = self.references.get(instrument_id)
        if reference is None:
            # Unpriced: which totals are unknown changes; rare, so simply sum again.
            return MarketView(self.equity, positions, self.instruments)
        # Priced: move the totals by this one position's change instead of summing the book
        # again, so that checking a rebalance of n orders costs O(n), not O(n^2).
        unit_value = reference * self.instruments[instrument_id].multiplier
        net = self.net_quantity.get(instrument_id, 0.0)
        growth = (abs(own + signed) - abs(own)) * unit_value
        twin = object.__new__(MarketView)
        twin.equity = self.equity
        twin.instruments = self.instruments
        twin.references = self.references
        twin.positions = positions
        twin.net_quantity = {**self.net_quantity, instrument_id: net + signed}
        twin.strategy_notional = {
            **self.strategy_notional,
            strategy_id: self.strategy_notional.get(strategy_id, 0.0) + growth,
        }
        twin.strategy_unpriced = self.strategy_unpriced
        twin.global_notional = self.global_notional + growth
        twin.unpriced = self.unpriced
        twin.account_gross = self.account_gross + (abs(net + signed) - abs(net)) * unit_value
        twin.account_net = self.account_net + signed * unit_value
        return twin
