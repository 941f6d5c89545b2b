"""What the router knows of one Nautilus venue now, read from the strategy's cache.

The router (``core.execution.routing``) is pure: it takes ``VenueQuote``s. This is where a Nautilus
venue's quote comes from: fees from ``[routing.venues.NAME]`` (else the instrument's own),
recent volume from the liquidity tracker, depth at the touch from the tracker or the cache's
last quote, the price decisions are made at, the instrument's lot and minimums, and the hard
cap of a cash account (what it holds there to sell, what its free cash there pays for).

``Committed`` carries what one send has already spoken for, so two lines of one rebalance do
not both count on the same cash or coins at a venue before either order has filled.
"""

from __future__ import annotations

from nautilus_trader.model.enums import AccountType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument

from core.config import RoutingConfig
from core.execution.host import StrategyHost
from core.execution.routing import LiquidityTracker, RouteLeg, VenueQuote

Committed = dict[str, float]
"""Spoken for within one send: cash by venue name, coins by instrument id."""


def venue_quote(
    strategy: StrategyHost,
    routing: RoutingConfig,
    tracker: LiquidityTracker,
    instrument_id: str,
    side: str,
    now: int,
    committed: Committed,
) -> VenueQuote | None:
    """``instrument_id``'s venue as the router weighs it for a ``side`` order at ``now``
    (None: the instrument is not in the cache)."""
    instrument = strategy.cache.instrument(InstrumentId.from_str(instrument_id))
    if instrument is None:
        return None
    venue = instrument.id.venue.value
    fees = routing.venues.get(venue)
    taker = float(instrument.taker_fee) * 10_000
    maker = float(instrument.maker_fee) * 10_000
    if fees is not None and fees.taker_fee_bps is not None:
        taker = fees.taker_fee_bps
    if fees is not None and fees.maker_fee_bps is not None:
        maker = fees.maker_fee_bps
    price = strategy.last_price(instrument)
    depth = tracker.depth(instrument_id, side)
    if depth is None:
        quote = strategy.cache.quote_tick(instrument.id)
        if quote is not None:
            size = quote.ask_size if side == "BUY" else quote.bid_size
            depth = size.as_double()
    min_quantity = instrument.min_quantity
    min_notional = instrument.min_notional
    return VenueQuote(
        venue=venue,
        instrument_id=instrument_id,
        maker_fee_bps=maker,
        taker_fee_bps=taker,
        latency_penalty_bps=0.0 if fees is None else fees.latency_penalty_bps,
        recent_volume=tracker.volume(instrument_id, now),
        depth=depth,
        price=price,
        lot_size=instrument.size_increment.as_double(),
        size_precision=instrument.size_precision,
        min_quantity=0.0 if min_quantity is None else min_quantity.as_double(),
        min_notional=0.0 if min_notional is None else min_notional.as_double(),
        max_quantity=_room(strategy, instrument, side, price, committed),
    )


def _room(
    strategy: StrategyHost,
    instrument: Instrument,
    side: str,
    price: float | None,
    committed: Committed,
) -> float | None:
    # A cash account sells only what it holds there and buys only what its cash there pays
    # for (fee included); a margin account has no such cap here (the risk checks bound it).
    # The fee is the one the venue charges (as ``commit`` counts it), not the router's
    # ``[routing.venues]`` override, which prices the venue but pays for nothing.
    account = strategy.portfolio.account(instrument.id.venue)
    if account is None or account.type != AccountType.CASH:
        return None
    if side == "SELL":
        return strategy.holding(instrument) - committed.get(str(instrument.id), 0.0)
    if price is None or not price > 0:
        return 0.0
    venue = instrument.id.venue.value
    free = strategy.free_cash(instrument.id.venue) - committed.get(venue, 0.0)
    return max(free, 0.0) / (price * (1 + float(instrument.taker_fee)))


def commit(committed: Committed, instrument: Instrument, side: str, leg: RouteLeg) -> None:
    """Count ``leg`` as spoken for: its coins (a sell) or its cash and fee (a buy)."""
    if side == "SELL":
        key = str(instrument.id)
        committed[key] = committed.get(key, 0.0) + leg.quantity
    elif leg.price is not None:
        key = instrument.id.venue.value
        fee = 1 + float(instrument.taker_fee)
        committed[key] = committed.get(key, 0.0) + leg.quantity * leg.price * fee
