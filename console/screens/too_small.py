"""What a terminal smaller than the console's minimum shows instead of a broken layout."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Static

MIN_WIDTH = 80
MIN_HEIGHT = 24


def too_small_message(width: int, height: int) -> str:
    """What the screen says for a ``width`` x ``height`` terminal."""
    return (
        f"Terminal too small: {width}x{height}. trade-console needs at least "
        f"{MIN_WIDTH}x{MIN_HEIGHT}; enlarge the window (q quits)."
    )


class TooSmallScreen(Screen[None]):
    """Covers every other screen until the terminal is large enough again; their state stays."""

    DEFAULT_CSS = """
    TooSmallScreen {
        align: center middle;
        & Static {
            width: auto;
            max-width: 100%;
            color: $warning;
            text-style: bold;
            text-align: center;
        }
    }
    """

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self._terminal = (width, height)

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static(too_small_message(*self._terminal), id="message")

    def show_size(self, width: int, height: int) -> None:
        """Say the terminal's new (still too small) size."""
        self.query_one("#message", Static).update(too_small_message(width, height))
