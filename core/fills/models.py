"""The fill models a simulated venue can run, named for what they do."""

from __future__ import annotations

from typing import Literal

from core.config import VenueConfig
from core.fills.matcher import ImpactModel

FillModelName = Literal[
    "trades_after_arrival", "trades_then_sqrt_impact", "last_trade_then_one_tick"
]
"""``VenueConfig.fill_model``'s values.

- ``trades_after_arrival`` (the default): an order fills only against trades of its own
  instrument printed at or after its arrival (decision + latency) and seen after it was sent,
  on the side that could have met it (a buy against trades whose aggressor bought, at or under
  its limit); each printed size fills at most once across all our orders; what the trades
  cannot fill waits (market) or rests (limit) for later trades.
- ``trades_then_sqrt_impact``: as above for what the first trade after arrival offers; the rest
  of a market order fills at once at that trade's price moved against it by
  ``impact_coefficient_bps * sqrt(rest / volume traded over impact_window_secs)``.
- ``last_trade_then_one_tick``: Nautilus's own matching engine on trade ticks (the old
  behaviour): the last trade's size at its price, the rest one tick worse, at the next event of
  any instrument. Kept to compare with; its fills can use liquidity printed before arrival.
"""

HONEST_MODELS: frozenset[str] = frozenset({"trades_after_arrival", "trades_then_sqrt_impact"})
"""The models ``core.fills.matcher`` runs (the others are Nautilus's own matching)."""


def impact_model(venue: VenueConfig) -> ImpactModel | None:
    """The venue's impact model, if its fill model has one."""
    if venue.fill_model != "trades_then_sqrt_impact":
        return None
    return ImpactModel(venue.impact_coefficient_bps, round(venue.impact_window_secs * 1e9))
