"""``AlertDetailScreen``: one risk alert in full, opened by Enter on the Alerts pane.

A row of the Alerts pane has room for 40-130 characters of the message, and the reason a
target file was refused runs to hundreds: the row ends in ``…`` and Enter shows the whole
alert (time, severity, kind, instrument, run, message, details), scrolling if it is long.
The text comes from outside (a file's contents, a venue's error): it is shown as plain text,
never read as markup, bounded to ``MAX_TEXT`` characters and its control characters shown
escaped (``core.errors.bounded``, as everywhere else).
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.widgets.key_footer import KeyFooter
from core.errors import bounded
from core.oms import RiskAlert

MAX_TEXT = 4_000
"""Characters of a message (and of the details) shown at most: a screenful and more at 80x24."""
MAX_DETAILS = 20
"""Detail entries shown at most."""


def alert_fields(alert: RiskAlert) -> list[tuple[str, str]]:
    """The alert's fields as (label, value) lines, the message last."""
    stamp = dt.datetime.fromtimestamp(alert.ts_event / 1e9, dt.UTC)
    fields = [
        ("time", f"{stamp:%Y-%m-%d %H:%M:%S} UTC"),
        ("severity", alert.severity),
        ("kind", alert.rule),
        ("instrument", alert.instrument_id or "-"),
    ]
    if alert.run_id is not None:
        fields.append(("run", alert.run_id))
    details = alert.details or {}
    for key, value in list(details.items())[:MAX_DETAILS]:
        fields.append((bounded(str(key), 40), bounded(str(value), 200)))
    if len(details) > MAX_DETAILS:
        fields.append(("details", f"… {len(details) - MAX_DETAILS} more not shown"))
    return fields


def alert_text(alert: RiskAlert) -> Text:
    """The whole alert as plain text (brackets in it are shown, never read as markup)."""
    text = Text(end="")
    for label, value in alert_fields(alert):
        text.append(f"{label:<11}", style="bold")
        text.append(f"{value}\n")
    text.append("\n")
    text.append(bounded(alert.message, MAX_TEXT))
    return text


class AlertDetailScreen(ModalScreen[None]):
    """The whole of one alert; Escape closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="alert.close", tooltip="Back to the alerts"),
    ]

    DEFAULT_CSS = """
    AlertDetailScreen {
        align: center middle;
        & > #dialog {
            width: 100;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $border;
            background: $surface;
            padding: 0 1;
        }
        & #title { text-style: bold; }
        & #alert-body { height: auto; max-height: 1fr; }
    }
    """

    def __init__(self, alert: RiskAlert) -> None:
        super().__init__()
        self.alert = alert

    def compose(self) -> ComposeResult:
        critical = self.alert.severity in ("CRITICAL", "ERROR")
        with Vertical(id="dialog"):
            yield Static(
                Text(f"ALERT · {self.alert.severity}", style="bold reverse" if critical else ""),
                id="title",
            )
            with VerticalScroll(id="alert-body"):
                yield Static(alert_text(self.alert), id="alert-text")
            yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#alert-body", VerticalScroll).focus()

    @property
    def shown_text(self) -> str:
        """The alert as the screen shows it, plain."""
        return str(self.query_one("#alert-text", Static).content)

    def action_close(self) -> None:
        self.dismiss(None)
