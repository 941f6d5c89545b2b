"""The fat-finger guard's second confirmation: type the base currency to send a large rebalance.

Opened by the rebalance preview on ``y`` when ``NodeSession.confirmation_needed`` says the send
is large against equity (``[risk] confirm_above_pct_equity``, ``confirm_turnover_pct_equity``).
It states the order, its notional and its share of equity, and dismisses with what was typed
(Enter) or None (Escape). It judges nothing itself: the session sends only when the typed word
is the one asked for, so a wrong word, like Escape, sends nothing.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.widgets.key_footer import KeyFooter
from core.risk.fat_finger import Confirmation


class ConfirmLargeScreen(ModalScreen[str | None]):
    """Asks for the base currency of the send's largest order; dismisses with the typed text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="rebalance.confirm_large_cancel",
            tooltip="Close; nothing is sent",
        ),
    ]

    DEFAULT_CSS = """
    ConfirmLargeScreen {
        align: center middle;
        & > #dialog {
            width: 96;
            max-width: 100%;
            height: auto;
            border: heavy $warning;
            background: $surface;
            padding: 0 1;
        }
        & #title { text-style: bold; color: $warning; }
        & #why { color: $text-muted; }
        & #question { text-style: bold; margin: 1 0; }
    }
    """

    def __init__(self, confirmation: Confirmation) -> None:
        super().__init__()
        self.confirmation = confirmation

    def compose(self) -> ComposeResult:
        asked = self.confirmation
        with Vertical(id="dialog"):
            yield Static("LARGE REBALANCE: SECOND CONFIRMATION", id="title")
            yield Static(f"Asked because of {asked.why}.", id="why")
            yield Static(asked.text, id="question")
            yield Input(placeholder=f"type {asked.word}, then Enter", id="word")
            yield Static("Any other text, or Esc, sends nothing.", id="note")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
