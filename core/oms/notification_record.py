"""``Notification``: one message the node sent (or failed to send) to one of the desk's channels.

The node's notifier (``core.notify``) writes one per channel per message, sent or failed, so
the OMS answers "was the desk told, and when?" after the fact; the Health pane reads the
channels' latest state from the node's heartbeat, and ``/metrics`` counts these rows.

The channel is stored masked (``tgram://1...p/``): a row is read by anyone who can read the
OMS, and a channel's URL carries its token.
"""

from __future__ import annotations

import msgspec

NOTIFICATION_KINDS = ("incident", "reminder", "resolved", "test")
"""What a message says: an incident opened, it is still open, it is over, or a ``notify
--test``."""
NOTIFICATION_STATUSES = ("sent", "failed")


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one channel, and how its send went."""

    notification_id: str
    ts_event: int
    """When the send ended (ns, wall clock)."""
    channel: str
    """The channel's apprise URL with its secrets masked."""
    kind: str
    """incident, reminder, resolved or test (``NOTIFICATION_KINDS``)."""
    incident: str
    """The incident's key (``alert:drawdown_limit``, ``part:target watcher``...), the same for
    its first message, its reminders and its resolution."""
    severity: str
    """The incident's severity (ERROR or CRITICAL; INFO for a test)."""
    status: str
    """sent or failed."""
    title: str
    body: str
    alert_id: str | None = None
    """The alert that opened the incident (None: an incident seen in the node's heartbeat)."""
    error: str | None = None
    """Why the send failed (one line, secrets masked); None when sent."""
    elapsed_ms: float = 0.0
    """How long the send took."""

    def __post_init__(self) -> None:
        if self.kind not in NOTIFICATION_KINDS:
            raise ValueError(f"Notification.kind: {self.kind!r} is not one of {NOTIFICATION_KINDS}")
        if self.status not in NOTIFICATION_STATUSES:
            raise ValueError(
                f"Notification.status: {self.status!r} is not one of {NOTIFICATION_STATUSES}"
            )
