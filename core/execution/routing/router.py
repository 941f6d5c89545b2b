"""``SmartOrderRouter``: where one order goes, or how it is split across venues, and why.

The router prices each candidate venue in basis points of the order's value:

- **fee**: the venue's taker fee for a market order, its maker fee for a limit order;
- **latency penalty**: what the desk charges a venue for being slow (``[routing.venues.X]``),
  standing for the market moving while the order travels.

It then fills the order from the cheapest venue up. A venue takes at most its **capacity**:
``max_participation`` of the liquidity seen there lately (volume traded in the window, plus the
depth at the touch where quotes exist), and never more than its **hard cap** (what a cash
account holds to sell, or can afford to buy). What the cheapest venue cannot absorb goes to the
next cheapest: that is the split. When every venue together cannot absorb the order within the
participation limit, the rest goes to the cheapest venue with room under its hard cap (the
rebalance must trade; the explanation says the limit was exceeded). Only what no hard cap
allows is left unrouted.

Pure Python over small tuples: a decision for ten venues takes microseconds
(``bench/bench_router.py``), nothing here touches Nautilus, so the same router decides for
Nautilus venues and for external ones alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """One candidate venue for an order: its fees, penalty, liquidity and limits."""

    venue: str
    instrument_id: str
    """The instrument the order would be on at this venue (``BTCUSDT.BYBIT``)."""
    maker_fee_bps: float
    taker_fee_bps: float
    latency_penalty_bps: float
    recent_volume: float
    """Quantity traded at this venue over the liquidity window."""
    depth: float | None = None
    """Size at the touch on the side the order takes (None: no quotes at this venue)."""
    price: float | None = None
    """The venue's last or mid price (None: unknown, the venue is not routable)."""
    lot_size: float = 0.0
    """Quantity grid of the venue's instrument (0: any quantity)."""
    size_precision: int = 8
    min_quantity: float = 0.0
    min_notional: float = 0.0
    max_quantity: float | None = None
    """Hard cap: what a cash account holds (to sell) or can afford (to buy); None = no cap."""


@dataclass(frozen=True, slots=True)
class VenueCost:
    """How the router priced one venue, and what it gave it."""

    venue: str
    instrument_id: str
    fee_bps: float
    latency_bps: float
    total_bps: float
    liquidity: float
    """Recent volume plus depth at the touch: what the participation limit is a share of."""
    capacity: float
    """What the venue may take within the participation limit and its hard cap."""
    quantity: float
    """What the decision routes to it (0 when none)."""
    note: str = ""
    """Why a venue got nothing though cheaper (no price, no room), empty otherwise."""


@dataclass(frozen=True, slots=True)
class RouteLeg:
    """One order of a decision: this quantity on this venue's instrument."""

    venue: str
    instrument_id: str
    quantity: float
    price: float | None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where an order goes and why: every venue considered, cheapest first, and the legs."""

    side: str
    quantity: float
    order_type: str
    costs: tuple[VenueCost, ...]
    legs: tuple[RouteLeg, ...]
    explanation: str
    unrouted: float = 0.0
    """Quantity no venue could take under its hard cap (0 normally)."""

    @property
    def venues(self) -> tuple[str, ...]:
        """The venues considered, cheapest first."""
        return tuple(cost.venue for cost in self.costs)

    @property
    def is_split(self) -> bool:
        return len(self.legs) > 1

    def cost_of(self, venue: str) -> VenueCost | None:
        """The pricing of ``venue`` in this decision (None if it was not considered)."""
        return next((cost for cost in self.costs if cost.venue == venue), None)


class SmartOrderRouter:
    """Chooses venues by expected cost under a participation limit (see the module docstring).

    Parameters
    ----------
    max_participation : float
        Share of a venue's recent liquidity one order may take there, in (0, 1].
    """

    def __init__(self, max_participation: float) -> None:
        if not 0 < max_participation <= 1:
            raise ValueError(f"max_participation must be in (0, 1], got {max_participation}")
        self.max_participation = max_participation

    def route(
        self,
        side: str,
        quantity: float,
        candidates: Sequence[VenueQuote],
        order_type: str = "MARKET",
    ) -> RouteDecision:
        """Decide where ``quantity`` (``side`` BUY or SELL) goes among ``candidates``."""
        if side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, got {side!r}")
        if not quantity > 0:
            raise ValueError(f"quantity must be positive, got {quantity}")
        if not candidates:
            raise ValueError("no venue to route to")
        maker = order_type != "MARKET"
        priced = sorted(
            (
                (
                    (q.maker_fee_bps if maker else q.taker_fee_bps) + q.latency_penalty_bps,
                    q.venue,
                    q,
                )
                for q in candidates
            ),
            key=lambda item: (item[0], item[1]),
        )
        quotes = [q for _, _, q in priced]
        hard = [_hard_room(q) for q in quotes]
        liquidity = [q.recent_volume + (q.depth or 0.0) for q in quotes]
        soft = [
            min(self.max_participation * liq, room)
            for liq, room in zip(liquidity, hard, strict=True)
        ]
        alloc = [0.0] * len(quotes)
        remaining = quantity
        for i in range(len(quotes)):  # cheapest first, within the participation limit
            take = min(remaining, soft[i])
            if take > 0:
                alloc[i] += take
                remaining -= take
        over_limit = remaining > _EPSILON * quantity
        for i in range(len(quotes)):  # the rest: cheapest with room under its hard cap
            if remaining <= 0:
                break
            take = min(remaining, hard[i] - alloc[i])
            if take > 0:
                alloc[i] += take
                remaining -= take
        alloc = _on_venue_grids(quotes, alloc, hard)
        unrouted = max(quantity - sum(alloc), 0.0)
        if unrouted <= _EPSILON * quantity:
            unrouted = 0.0
        costs = tuple(
            VenueCost(
                venue=q.venue,
                instrument_id=q.instrument_id,
                fee_bps=q.maker_fee_bps if maker else q.taker_fee_bps,
                latency_bps=q.latency_penalty_bps,
                total_bps=total,
                liquidity=liq,
                capacity=cap,
                quantity=qty,
                note=_note(q, hard_room, qty),
            )
            for (total, _, q), liq, cap, qty, hard_room in zip(
                priced, liquidity, soft, alloc, hard, strict=True
            )
        )
        legs = tuple(
            RouteLeg(q.venue, q.instrument_id, qty, q.price)
            for q, qty in zip(quotes, alloc, strict=True)
            if qty > 0
        )
        explanation = explain(side, quantity, costs, legs, over_limit, unrouted)
        return RouteDecision(side, quantity, order_type, costs, legs, explanation, unrouted)


_EPSILON = 1e-9


def _hard_room(quote: VenueQuote) -> float:
    if quote.price is None or not quote.price > 0:
        return 0.0
    return math.inf if quote.max_quantity is None else max(quote.max_quantity, 0.0)


def _floor(quantity: float, quote: VenueQuote) -> float:
    if quote.lot_size <= 0:
        return quantity
    lots = math.floor(quantity / quote.lot_size + 1e-9)
    return round(lots * quote.lot_size, quote.size_precision)


def _too_small(quantity: float, quote: VenueQuote) -> bool:
    if quantity <= 0:
        return True
    price = quote.price or 0.0
    return quantity < quote.min_quantity or quantity * price < quote.min_notional


def _on_venue_grids(quotes: list[VenueQuote], alloc: list[float], hard: list[float]) -> list[float]:
    # Each leg on its venue's lot grid and above its minimums; what rounding or a too-small leg
    # leaves over goes to the cheapest leg that can hold it (a split never loses quantity to a
    # venue's grid when another leg can carry it).
    result = [0.0] * len(alloc)
    leftover = 0.0
    for i, quote in enumerate(quotes):
        floored = _floor(alloc[i], quote)
        if alloc[i] > 0 and _too_small(floored, quote):
            floored = 0.0
        leftover += alloc[i] - floored
        result[i] = floored
    if leftover <= 0:
        return result
    placed = any(r > 0 for r in result)
    for i, quote in enumerate(quotes):
        if leftover <= _EPSILON:
            break
        if hard[i] <= 0 or (placed and result[i] <= 0):
            continue  # grow the legs there are; a new leg only when none could be placed
        grown = _floor(min(result[i] + leftover, hard[i]), quote)
        if grown > result[i] and not _too_small(grown, quote):
            leftover -= grown - result[i]
            result[i] = grown
    return result


def _note(quote: VenueQuote, hard_room: float, quantity: float) -> str:
    if quantity > 0:
        return ""
    if quote.price is None or not quote.price > 0:
        return "no price"
    if hard_room <= 0:
        return "nothing held" if quote.max_quantity is not None else "no room"
    return ""


def quantity_text(quantity: float) -> str:
    """A quantity without float noise or trailing zeros (``0.25``, ``3``)."""
    text = f"{quantity:.8f}".rstrip("0").rstrip(".")
    return text or "0"


def explain(
    side: str,
    quantity: float,
    costs: Sequence[VenueCost],
    legs: Sequence[RouteLeg],
    over_limit: bool,
    unrouted: float,
) -> str:
    """The decision in one line: where it went, at what cost, and what it was weighed against."""
    cost = {c.venue: c for c in costs}
    head = f"{side} {quantity_text(quantity)}"
    if not legs:
        return f"{head}: no venue can take it ({_others(costs, ())})"
    if len(legs) == 1:
        leg = legs[0]
        chosen = cost[leg.venue]
        text = (
            f"{head} -> {leg.venue} at {chosen.total_bps:.2f} bps "
            f"(fee {chosen.fee_bps:.2f} + latency {chosen.latency_bps:.2f})"
        )
    else:
        parts = " + ".join(
            f"{leg.venue} {quantity_text(leg.quantity)} @ {cost[leg.venue].total_bps:.2f}"
            for leg in legs
        )
        limit = "beyond every venue's participation limit" if over_limit else "participation limit"
        text = f"{head} split {parts} bps ({limit})"
    others = _others(costs, {leg.venue for leg in legs})
    if others:
        text += f"; vs {others}"
    elif len(costs) == 1:
        return text + "; only venue"
    if over_limit and len(legs) == 1:
        text += "; beyond the participation limit"
    if unrouted > 0:
        text += f"; {quantity_text(unrouted)} unrouted (no room)"
    return text


def _others(costs: Sequence[VenueCost], chosen: set[str] | tuple[()]) -> str:
    return ", ".join(
        f"{c.venue} {c.total_bps:.2f}" + (f" ({c.note})" if c.note else "")
        for c in costs
        if c.venue not in chosen
    )
