"""``StateToasts``: notices about a state that leave once the state they speak of has changed.

A toast such as "HALTED (flatten) in force: ..." is true when it is raised and false once
anyone re-arms, from this console or from a shell; left for its 15 s it contradicts the header.
So each such toast is kept with a test of whether it still holds, run on each health reading
(every second, and at once when the trading state or the heartbeat changes): the kill switch's
toast holds until a later change is in force, the NODE DOWN toast while the node is down.

Textual's ``notify`` returns no handle and its only public removal clears every toast: the
toast is built here, posted as ``notify`` posts it, and removed alone through the app's own
removal (``App._unnotify``, what a toast's timeout calls).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App
from textual.notifications import Notification, Notify, SeverityLevel

from core.oms import TradingStateRecord
from core.oms.health import Health

StillTrue = Callable[[Health], bool]
"""Whether a toast's message still holds for a health reading."""


def until_changed(about: TradingStateRecord) -> StillTrue:
    """Holds until a trading-state change later than ``about`` is in force."""
    return lambda health: (
        health.trading_change is None or health.trading_change.ts_event <= about.ts_event
    )


class StateToasts:
    """The app's toasts about a state; ``show`` one, ``check`` them on each health reading."""

    def __init__(self, app: App[object]) -> None:
        self._app = app
        self._shown: list[tuple[Notification, StillTrue]] = []

    def show(
        self,
        message: str,
        still_true: StillTrue,
        *,
        title: str,
        severity: SeverityLevel,
        timeout: float,
    ) -> None:
        """A toast that leaves once ``still_true`` fails (as plain text: it may hold an
        operator's reason)."""
        notification = Notification(message, title, severity, timeout, markup=False)
        self._app.post_message(Notify(notification))
        self._shown.append((notification, still_true))

    def check(self, health: Health) -> None:
        """Remove the toasts that ``health`` shows are no longer true."""
        stale = [item for item in self._shown if not item[1](health)]
        if not stale:
            return
        self._shown = [item for item in self._shown if item not in stale]
        for notification, _ in stale:
            self._app._unnotify(notification)  # one that timed out already: a no-op
