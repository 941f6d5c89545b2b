"""``StateToasts``: notices about the trading state that leave once the state changes.

A toast such as "HALTED (flatten) in force: ..." is true when it is raised and false once
anyone re-arms, from this console or from a shell; left for its 15 s it contradicts the header.
So each such toast is kept with the change it speaks of (the ``TradingStateRecord``'s stamp),
and removed as soon as a health reading shows a later change in force.

Textual's ``notify`` returns no handle and its only public removal clears every toast (a
NODE DOWN notice with them): the toast is built here, posted as ``notify`` would post it, and
removed alone through the app's own removal (``App._unnotify``, what a toast's timeout calls).
"""

from __future__ import annotations

from textual.app import App
from textual.notifications import Notification, Notify, SeverityLevel

from core.oms import TradingStateRecord


class StateToasts:
    """The app's toasts about the trading state; ``show`` one, ``changed`` on each reading."""

    def __init__(self, app: App[object]) -> None:
        self._app = app
        self._shown: list[tuple[Notification, int]] = []
        """Each toast shown, with the ``ts_event`` of the change it speaks of."""

    def show(
        self,
        message: str,
        about: TradingStateRecord,
        *,
        title: str,
        severity: SeverityLevel,
        timeout: float,
    ) -> None:
        """A toast about the change ``about`` (as plain text: it holds an operator's reason)."""
        notification = Notification(message, title, severity, timeout, markup=False)
        self._app.post_message(Notify(notification))
        self._shown.append((notification, about.ts_event))

    def changed(self, in_force: TradingStateRecord | None) -> None:
        """Remove the toasts about changes older than ``in_force`` (a later one replaced them)."""
        if in_force is None:
            return
        stale = [item for item in self._shown if item[1] < in_force.ts_event]
        if not stale:
            return
        self._shown = [item for item in self._shown if item[1] >= in_force.ts_event]
        for notification, _ in stale:
            self._app._unnotify(notification)  # a toast that timed out already: a no-op
