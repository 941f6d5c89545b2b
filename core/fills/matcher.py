"""Honest matching: our orders against the trades printed after they arrive.

Pure arithmetic on Nautilus's raw fixed-point integers (prices and sizes as ``.raw``), so a
fill is exact and the same wherever it runs: the backtest venue and the shadow node's sandbox
feed the same trades in the same order and get the same fills.

The rules (``core.fills.models`` names the models):

- An order meets the market at its **arrival** (sent + the venue's latency). Only trades of its
  own instrument printed at or after the arrival, and seen after the order was added, fill it:
  a trade the strategy saw before sending has already happened.
- **Side**: a buy takes what sellers offered, so it fills against trades whose aggressor bought
  (or is unknown), at or under its limit, at the trade's price (taking liquidity). A buy limit
  is also hit by sellers: a trade whose aggressor sold at or under its limit fills it at its
  limit (resting liquidity, a maker fill). A sell mirrors this.
- **Each printed size fills at most once** across all our orders, oldest order first.
- What the trades cannot fill **waits** for later trades (a market order) or **rests** (a limit
  order). With an impact model, the rest of a market order fills at once at the first trade's
  price moved against it by ``coefficient_bps * sqrt(rest / volume)``, ``volume`` being what the
  instrument traded over the window up to that trade.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

BUYER = 1
"""Aggressor codes, as Nautilus's ``AggressorSide`` values: the buyer lifted an offer."""
SELLER = 2
"""The seller hit a bid."""


@dataclass(frozen=True, slots=True)
class ImpactModel:
    """Square-root impact for what printed trades cannot fill at once."""

    coefficient_bps: float
    """Cost in bps of taking the whole window's volume (participation 1)."""
    window_ns: int
    """How far back the traded volume that sets participation is summed."""


@dataclass(slots=True)
class WorkingOrder:
    """One of our orders at the simulated venue, with what is left to fill."""

    key: str
    instrument: str
    buy: bool
    leaves: int
    """Raw quantity still to fill."""
    limit: int | None
    """Raw limit price; None for a market order."""
    arrival_ns: int
    """When the order meets the market: trades printed before it cannot fill it."""
    met_market: bool = False
    """Whether a trade at or after arrival has been seen (the impact model fills then)."""


@dataclass(frozen=True, slots=True)
class Fill:
    """A fill the matcher decided: ``quantity`` of ``key`` at ``price`` (raw), at ``ts_ns``."""

    key: str
    quantity: int
    price: int
    ts_ns: int
    impact: bool = False
    """True for the part filled by the impact model (not against a printed trade)."""
    maker: bool = False
    """True when a resting limit was hit (at its limit price): the venue's maker fee applies."""


@dataclass(slots=True)
class _Volume:
    trades: deque[tuple[int, int]] = field(default_factory=deque)
    total: int = 0


class TradeFlowMatcher:
    """The working orders of one venue and the trades that fill them.

    ``add`` an order when the venue receives it, ``cancel`` it when a cancel arrives, and feed
    every trade of the venue to ``on_trade`` in the order printed: it returns the fills.
    """

    def __init__(self, impact: ImpactModel | None = None) -> None:
        self._impact = impact
        self._working: dict[str, dict[str, WorkingOrder]] = {}
        self._volume: dict[str, _Volume] = {}

    def add(self, order: WorkingOrder) -> None:
        """Take ``order``: only trades fed after this call can fill it."""
        self._working.setdefault(order.instrument, {})[order.key] = order

    def cancel(self, key: str, instrument: str) -> WorkingOrder | None:
        """Stop working ``key``; the order as it was, or None if it was not working."""
        orders = self._working.get(instrument)
        return None if orders is None else orders.pop(key, None)

    def idle(self, instrument: str) -> bool:
        """Whether a trade of ``instrument`` can be skipped: no order of it works and no
        impact model needs its volume (the per-trade fast path)."""
        return self._impact is None and not self._working.get(instrument)

    def idle_everywhere(self) -> bool:
        """Whether every trade of the venue can be skipped: ``idle`` for all instruments."""
        return self._impact is None and not any(self._working.values())

    def working(self, instrument: str | None = None) -> list[WorkingOrder]:
        """The orders still working, oldest first (of ``instrument``, or all)."""
        if instrument is not None:
            return list(self._working.get(instrument, {}).values())
        return [order for orders in self._working.values() for order in orders.values()]

    def on_trade(
        self,
        instrument: str,
        ts_ns: int,
        price: int,
        size: int,
        aggressor: int,
        price_increment: int,
    ) -> list[Fill]:
        """The fills one printed trade gives our working orders of ``instrument``."""
        if self._impact is not None:
            self._record_volume(instrument, ts_ns, size)
        orders = self._working.get(instrument)
        if not orders:
            return []
        fills: list[Fill] = []
        remaining = size
        for order in list(orders.values()):
            if ts_ns < order.arrival_ns:
                continue
            first_meeting = not order.met_market
            order.met_market = True
            meets = _meets(order, price, aggressor) if remaining > 0 else None
            if meets is not None:
                quantity = min(order.leaves, remaining)
                remaining -= quantity
                order.leaves -= quantity
                fill_price, maker = meets
                fills.append(Fill(order.key, quantity, fill_price, ts_ns, maker=maker))
            if first_meeting and order.leaves > 0 and order.limit is None and self._impact:
                fills.append(self._impact_fill(order, instrument, ts_ns, price, price_increment))
            if order.leaves == 0:
                del orders[order.key]
        return fills

    def _impact_fill(
        self, order: WorkingOrder, instrument: str, ts_ns: int, price: int, increment: int
    ) -> Fill:
        assert self._impact is not None
        volume = self._volume[instrument].total
        participation = order.leaves / volume if volume > 0 else 1.0
        bps = self._impact.coefficient_bps * math.sqrt(participation)
        moved = price * (1 + bps / 1e4) if order.buy else price * (1 - bps / 1e4)
        ticks = math.ceil(moved / increment) if order.buy else math.floor(moved / increment)
        fill = Fill(order.key, order.leaves, max(ticks, 1) * increment, ts_ns, impact=True)
        order.leaves = 0
        return fill

    def _record_volume(self, instrument: str, ts_ns: int, size: int) -> None:
        assert self._impact is not None
        volume = self._volume.get(instrument)
        if volume is None:
            volume = self._volume[instrument] = _Volume()
        volume.trades.append((ts_ns, size))
        volume.total += size
        horizon = ts_ns - self._impact.window_ns
        while volume.trades and volume.trades[0][0] <= horizon:
            volume.total -= volume.trades.popleft()[1]


def _meets(order: WorkingOrder, price: int, aggressor: int) -> tuple[int, bool] | None:
    """Whether a trade at ``price`` fills ``order``: None, or (the fill price, maker)."""
    limit = order.limit
    if order.buy:
        if limit is not None and price > limit:
            return None
        if aggressor != SELLER:
            return price, False  # it takes the offer the buyer lifted
        return (limit, True) if limit is not None else None  # a seller hits our bid
    if limit is not None and price < limit:
        return None
    if aggressor != BUYER:
        return price, False
    return (limit, True) if limit is not None else None
