"""Venues Nautilus has no adapter for: adapters, their registry, the poller into the OMS.

Start at ``ExternalVenues`` (``venues.py``): it builds the configured adapters, polls them into
the OMS (``poller.py``) and is the one way an order reaches an external venue. ``routes.py``
is how the smart order router sees them (fees, the public market data ``market.py`` reads,
holdings), so the orchestrator can route a rebalance's legs there.
"""

from core.execution.external.adapter import (
    Credentials,
    ExternalBalance,
    ExternalFill,
    ExternalInstrument,
    ExternalMarket,
    ExternalOrder,
    ExternalPosition,
    ExternalVenueAdapter,
    OrderRequest,
    PublicTrade,
)
from core.execution.external.errors import (
    VenueAuthError,
    VenueError,
    VenueNotFound,
    VenueRejected,
    VenueUnavailable,
)
from core.execution.external.registry import adapter_kinds, create_adapter, register_adapter

__all__ = [
    "Credentials",
    "ExternalBalance",
    "ExternalFill",
    "ExternalInstrument",
    "ExternalMarket",
    "ExternalOrder",
    "ExternalPosition",
    "ExternalVenueAdapter",
    "OrderRequest",
    "PublicTrade",
    "VenueAuthError",
    "VenueError",
    "VenueNotFound",
    "VenueRejected",
    "VenueUnavailable",
    "adapter_kinds",
    "create_adapter",
    "register_adapter",
]
