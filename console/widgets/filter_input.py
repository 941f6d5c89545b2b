"""``FilterInput``: a one-line filter that the operator leaves with Enter or Escape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    """Typing filters at once; Enter keeps the filter, Escape empties it; both post ``Left``
    so the owner puts the focus back where the operator was."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "clear",
            "Clear filter",
            id="filter.clear",
            tooltip="Empty the filter and go back to the list",
        ),
    ]

    DEFAULT_CSS = """
    FilterInput, FilterInput:focus {
        height: 1;
        border: none;
        padding: 0 1;
        background: $surface;
    }
    """

    @dataclass
    class Left(Message):
        """The operator is done with the filter."""

        filter: FilterInput

        @property
        def control(self) -> FilterInput:
            return self.filter

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Left(self))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Left(self))
