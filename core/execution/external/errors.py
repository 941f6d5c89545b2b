"""What can go wrong talking to an external venue, sorted by what the caller should do.

A venue answers in its own words (Gemini's ``reason``, another's error code); the adapter
turns each answer into one of these, so the poller and the router decide without knowing the
venue: retry (``VenueUnavailable``), stop and tell the operator (``VenueAuthError``), record
the order as rejected (``VenueRejected``), or treat the order as unknown (``VenueNotFound``).
Every message is one line naming the venue, the venue's reason and the call.
"""

from __future__ import annotations

from core.errors import TradeConsoleError


class VenueError(TradeConsoleError):
    """An external venue refused a call or could not be reached."""

    def __init__(self, venue: str, problem: str, *, reason: str = "", status: int = 0) -> None:
        self.venue = venue
        self.reason = reason
        """The venue's own word for it (``InvalidSignature``, ``RateLimit``...), or ``""``."""
        self.status = status
        """The HTTP status (0: no answer at all)."""
        super().__init__(f"{venue}: {problem}")


class VenueUnavailable(VenueError):
    """No usable answer: a timeout, a lost connection, HTTP 5xx or a rate limit. Worth
    retrying a read later; a submit is not retried blindly (it may have reached the venue)."""


class VenueAuthError(VenueError):
    """The venue refused the credentials (bad key, bad signature, stale nonce, missing role)."""


class VenueRejected(VenueError):
    """The venue refused the order itself (insufficient funds, bad price or size...)."""


class VenueNotFound(VenueError):
    """The venue knows no such order."""
