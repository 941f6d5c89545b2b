"""Marking positions to the last traded price, the same way everywhere.

With trade ticks only (no quotes), Nautilus's ``portfolio.unrealized_pnl`` is refreshed by
quotes and goes stale, and whether it is fresh depends on who asked it last. The strategy (to
size orders) and the equity recorder (to value the portfolio) mark at the last trade instead.
"""

from __future__ import annotations

from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.enums import PriceType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price


def last_price(cache: Cache, instrument_id: InstrumentId) -> Price | None:
    """The last traded price, else the mid, else None (nothing seen yet)."""
    price = cache.price(instrument_id, PriceType.LAST)
    return price if price is not None else cache.price(instrument_id, PriceType.MID)


def unrealized_at_last(cache: Cache, instrument_id: InstrumentId) -> float:
    """Unrealized PnL of the open positions in ``instrument_id`` at its last price."""
    price = last_price(cache, instrument_id)
    if price is None:
        return 0.0
    return sum(
        position.unrealized_pnl(price).as_double()
        for position in cache.positions_open(instrument_id=instrument_id)
    )
