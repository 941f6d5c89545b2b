"""Marking positions to the last traded price, the same way everywhere.

``mark`` says which price it is (the last trade, else the quotes' mid) and when it printed:
the node records it with its PnL (``core.live.pnl_tracker``).

With trade ticks only (no quotes), Nautilus's ``portfolio.unrealized_pnl`` is refreshed by
quotes and goes stale, and whether it is fresh depends on who asked it last. The strategy (to
size orders) and the equity recorder (to value the portfolio) mark at the last trade instead.
"""

from __future__ import annotations

from typing import NamedTuple

from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.enums import PriceType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price


class Mark(NamedTuple):
    """An instrument's mark: its price, what the price is (``last`` or ``mid``) and when the
    market printed it (ns)."""

    price: Price
    source: str
    ts_ns: int


def last_price(cache: Cache, instrument_id: InstrumentId) -> Price | None:
    """The last traded price, else the mid, else None (nothing seen yet)."""
    price = cache.price(instrument_id, PriceType.LAST)
    return price if price is not None else cache.price(instrument_id, PriceType.MID)


def mark(cache: Cache, instrument_id: InstrumentId) -> Mark | None:
    """``last_price`` with what it is and when it printed: the last trade (``last``), else the
    quotes' mid (``mid``), else None. The same price ``last_price`` gives, so the PnL the node
    records is marked where the equity is."""
    price = cache.price(instrument_id, PriceType.LAST)
    if price is not None:
        tick = cache.trade_tick(instrument_id)
        return Mark(price, "last", 0 if tick is None else tick.ts_event)
    price = cache.price(instrument_id, PriceType.MID)
    if price is None:
        return None
    quote = cache.quote_tick(instrument_id)
    return Mark(price, "mid", 0 if quote is None else quote.ts_event)


def unrealized_at_last(cache: Cache, instrument_id: InstrumentId) -> float:
    """Unrealized PnL of the open positions in ``instrument_id`` at its last price."""
    price = last_price(cache, instrument_id)
    if price is None:
        return 0.0
    return sum(
        position.unrealized_pnl(price).as_double()
        for position in cache.positions_open(instrument_id=instrument_id)
    )
