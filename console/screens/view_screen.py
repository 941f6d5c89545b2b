"""``ViewScreen``: what the screens opened over the dashboard share (a title, Escape back), and
the dashboard's header, so the trading state is on every screen the operator can be on."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol, cast

from textual.binding import Binding, BindingType
from textual.screen import Screen

from console.screens.dashboard import DashboardScreen
from console.widgets.status_header import StatusHeader
from core.config import AppConfig


class DeskApp(Protocol):
    """What the header needs of the app (the console's app; named here, not imported, since
    the app imports the screens)."""

    clock: Callable[[], int]
    config: AppConfig


class ViewScreen(Screen[None]):
    """A full screen over the dashboard, with the status header on top, a title bar
    (``#title``), a muted note (``#note``) and Escape to go back. The dashboard keeps updating
    underneath.

    The header is the dashboard's own widget (``StatusHeader``): it follows the app's health
    reading, so a HALTED written by any process shows here as soon as on the dashboard, and
    whatever the header learns to say, every screen says.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "app.pop_screen", "Back", id="view.back", tooltip="Back to the dashboard"
        ),
    ]

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = DashboardScreen.HORIZONTAL_BREAKPOINTS

    DEFAULT_CSS = """
    ViewScreen {
        & > StatusHeader {
            dock: top;
        }
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
        /* As on the dashboard: 80 columns have room for the time, not the date nor currency. */
        &.-narrow StatusHeader #date, &.-narrow StatusHeader #currency {
            display: none;
        }
    }
    """

    def on_mount(self) -> None:
        # Mounted here, not in each screen's compose: no view screen can be without it; it is in
        # before the first frame. Last in the DOM and docked on top: a screen's own query for
        # its ``#equity`` plot finds the plot, not the header's ``#equity`` label.
        app = cast("DeskApp", self.app)
        config = app.config
        header = StatusHeader(
            app.clock,
            tuple(venue.name for venue in config.venues),
            config.strategy.valuation_currency,
            id="header",
        )
        self.mount(header)
