"""The narrow layout's strip of pane names: which pane is shown, and that Tab moves on."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class PaneStrip(Widget):
    """One line of pane titles with the current one highlighted.

    Shown only when the terminal is too small for the grid, where one pane fills the body and
    Tab / shift+Tab go to the next or previous one.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"pane-strip--current", "pane-strip--hint"}

    DEFAULT_CSS = """
    PaneStrip {
        height: 1;
        background: $panel;
        color: $text-muted;
        & > .pane-strip--current {
            color: $foreground;
            background: $primary 40%;
            text-style: bold;
        }
        & > .pane-strip--hint {
            color: $text-muted;
            text-style: italic;
        }
    }
    """

    current: reactive[int] = reactive(0)
    """Index of the pane shown."""

    def __init__(self, titles: tuple[str, ...], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.titles = titles

    def render(self) -> Text:
        current = self.get_component_rich_style("pane-strip--current")
        hint = self.get_component_rich_style("pane-strip--hint")
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, title in enumerate(self.titles):
            text.append(f" {title} ", style=current if index == self.current else "")
        text.append("  tab >", style=hint)
        return text
