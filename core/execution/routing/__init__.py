"""Smart order routing: which venue an order goes to, or how it is split, and why.

``router`` decides (pure, microseconds); ``liquidity`` tracks what each venue traded lately;
``assets`` says which instruments are the same asset on different venues.
"""

from core.execution.routing.assets import asset_groups, asset_of, venue_of
from core.execution.routing.liquidity import LiquidityTracker
from core.execution.routing.router import (
    RouteDecision,
    RouteLeg,
    SmartOrderRouter,
    VenueCost,
    VenueQuote,
    quantity_text,
)

__all__ = [
    "LiquidityTracker",
    "RouteDecision",
    "RouteLeg",
    "SmartOrderRouter",
    "VenueCost",
    "VenueQuote",
    "asset_groups",
    "asset_of",
    "quantity_text",
    "venue_of",
]
