"""``WeightEdit``: the rebalance preview's box for one instrument's target weight, in percent.

It says which instrument it edits and that the number is a percentage (``25`` is 25%). Enter
posts ``Submitted`` with the text; the screen checks it and either closes the box or shows the
refusal on the line under the field (``refuse``), leaving the box open and nothing changed.
Escape closes this box only: the preview, and every other edit, stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Static


class WeightEdit(Vertical):
    """A labelled percent field for the target weight of one instrument (hidden when idle)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "cancel",
            "Cancel edit",
            id="rebalance.edit_cancel",
            tooltip="Close this edit only; the preview and the other edits stay",
        ),
    ]

    DEFAULT_CSS = """
    WeightEdit {
        display: none;
        height: auto;
        padding: 0 1;
        border-top: solid $accent;
        &.-open { display: block; }
        & > Horizontal { height: auto; }
        & #label { width: auto; padding: 1 1 0 0; text-style: bold; }
        & Input { width: 14; }
        & #unit { width: auto; padding: 1 2 0 0; }
        & #hint { width: 1fr; padding: 1 0 0 0; color: $text-muted; }
        & #problem { height: 1; color: $error; text-wrap: nowrap; text-overflow: ellipsis; }
    }
    """

    @dataclass
    class Submitted(Message):
        """The operator pressed Enter in the box."""

        edit: WeightEdit
        instrument_id: str
        text: str

        @property
        def control(self) -> WeightEdit:
            return self.edit

    @dataclass
    class Cancelled(Message):
        """The operator closed the box with Escape."""

        edit: WeightEdit

        @property
        def control(self) -> WeightEdit:
            return self.edit

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.instrument_id: str | None = None
        """The instrument being edited (None while the box is closed)."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static("", id="label")
            yield Input(placeholder="e.g. 25", id="weight")
            yield Static("%", id="unit")
            yield Static("Enter applies · Esc cancels this edit", id="hint")
        yield Static("", id="problem")

    @property
    def is_open(self) -> bool:
        """Whether an edit is in progress."""
        return self.instrument_id is not None

    def open(self, instrument_id: str, percent_text: str) -> None:
        """Edit ``instrument_id``'s target, starting from ``percent_text`` (e.g. ``40``)."""
        self.instrument_id = instrument_id
        self.query_one("#label", Static).update(f"Target weight of {instrument_id}:")
        self.query_one("#problem", Static).update("")
        field = self.query_one(Input)
        field.value = percent_text
        self.add_class("-open")
        field.focus()

    def refuse(self, problem: str) -> None:
        """Show why the value was refused, on one line under the field; the box stays open."""
        self.query_one("#problem", Static).update(problem)
        self.query_one(Input).focus()

    @property
    def problem(self) -> str:
        """The refusal shown now ('' when none)."""
        return str(self.query_one("#problem", Static).render())

    def close(self) -> None:
        """Hide the box and forget the edit in progress."""
        self.instrument_id = None
        self.remove_class("-open")

    def action_cancel(self) -> None:
        self.close()
        self.post_message(self.Cancelled(self))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.instrument_id is not None:
            self.post_message(self.Submitted(self, self.instrument_id, event.value))
