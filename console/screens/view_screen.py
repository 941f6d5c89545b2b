"""``ViewScreen``: what the screens opened over the dashboard share (a title, Escape back)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen


class ViewScreen(Screen[None]):
    """A full screen over the dashboard, with a title bar (``#title``), a muted note
    (``#note``) and Escape to go back. The dashboard keeps updating underneath."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "app.pop_screen", "Back", id="view.back", tooltip="Back to the dashboard"
        ),
    ]

    DEFAULT_CSS = """
    ViewScreen {
        & > #title {
            height: 1;
            background: $panel;
            text-style: bold;
            padding: 0 1;
        }
        & > #note {
            color: $text-muted;
            padding: 0 1;
        }
    }
    """
