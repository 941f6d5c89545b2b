"""``KeyFooter``: the keys line at the bottom of every screen, rebuilt only when they change.

Textual's ``Footer`` rebuilds itself (a widget per key, each styled afresh) on every change of
focus, because the focused widget may bring other bindings. Moving between the dashboard's
panes changes none of the keys shown, yet the rebuild was most of the work behind a Tab's frame
(profiled: 22 M function calls for 60 Tabs with it, 6.5 M without). This footer compares what
it would show with what it shows and rebuilds only on a difference.
"""

from __future__ import annotations

from textual import events
from textual.screen import Screen
from textual.widgets import Footer

type ShownKeys = tuple[tuple[str, str, str, bool, str], ...]


def shown_keys(screen: Screen) -> ShownKeys:
    """What a footer on ``screen`` shows now: key, action, description, enabled, tooltip."""
    return tuple(
        (binding.key, binding.action, binding.description, enabled, tooltip)
        for _node, binding, enabled, tooltip in screen.active_bindings.values()
        if binding.show or binding.key == screen.app.COMMAND_PALETTE_BINDING
    )


def key_name(event: events.Key) -> str:
    """The key as a sentence names it: its character (``y``, ``?``), else its name (``space``,
    ``enter``, ``ctrl+x``)."""
    character = event.character
    if event.is_printable and character and not character.isspace():
        return character
    return event.key


class KeyFooter(Footer):
    """A ``Footer`` that skips rebuilds which would show the same keys."""

    def __init__(self, *, id: str | None = None, compact: bool = False) -> None:
        super().__init__(id=id, compact=compact)
        self._shown: ShownKeys | None = None

    def bindings_changed(self, screen: Screen) -> None:
        shown = shown_keys(screen)
        if self._bindings_ready and shown == self._shown:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = shown  # the rebuild below will show exactly these
        super().bindings_changed(screen)
