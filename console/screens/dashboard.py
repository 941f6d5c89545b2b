"""The dashboard: the header over six panes, laid out for the terminal it finds.

From 120x32 up the panes sit in a 2x3 grid. Below that (80x24 SSH terminals) one pane fills
the body and a strip names them all; Tab and shift+Tab go to the next or previous pane in both
layouts, so the same keys work everywhere and nothing needs a mouse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import DescendantFocus
from textual.reactive import Reactive, reactive
from textual.screen import Screen
from textual.widget import Widget

from console.screens.alert_detail import AlertDetailScreen
from console.widgets.alerts_pane import AlertsPane
from console.widgets.drift_pane import DriftPane
from console.widgets.health_pane import HealthPane
from console.widgets.key_footer import KeyFooter
from console.widgets.line_table import LineTable
from console.widgets.orders_pane import OrdersPane
from console.widgets.pane_strip import PaneStrip
from console.widgets.positions_pane import PositionsPane
from console.widgets.status_header import StatusHeader
from console.widgets.table_pane import TablePane
from console.widgets.uploads_pane import UploadsPane

GRID_MIN_WIDTH = 120
GRID_MIN_HEIGHT = 32
"""Below either, six panes would leave each a handful of rows: one pane at a time instead."""


class DashboardScreen(Screen[None]):
    """The header, the six panes, and the footer of keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "tab",
            "next_pane",
            "Next pane",
            id="view.next_pane",
            tooltip="Focus the next pane (in a small terminal: show it)",
            show=False,
        ),
        Binding(
            "shift+tab",
            "previous_pane",
            "Previous pane",
            id="view.previous_pane",
            tooltip="Focus the previous pane (in a small terminal: show it)",
            show=False,
        ),
        Binding(
            "m",
            "toggle_maximise",
            "Maximise",
            id="view.maximise",
            tooltip="Maximise the focused pane to the whole screen, or restore it",
        ),
    ]

    ALLOW_IN_MAXIMIZED_VIEW: ClassVar[str] = "StatusHeader, Footer"
    """A maximised pane keeps the header (mode, node and trading state) and the keys."""

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-narrow"),
        (GRID_MIN_WIDTH, "-wide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-short"),
        (GRID_MIN_HEIGHT, "-tall"),
    ]

    DEFAULT_CSS = """
    DashboardScreen {
        layout: vertical;
        & #panes {
            height: 1fr;
            layout: grid;
            grid-size: 2 3;
        }
        & PaneStrip {
            display: none;
        }
        /* Over a maximised pane (which is laid out first), the header stays on top. */
        &.-maximized-view StatusHeader {
            dock: top;
        }
        &.-narrow, &.-short {
            & #panes {
                layout: vertical;
            }
            & #panes > TablePane {
                display: none;
            }
            & #panes > TablePane.-current {
                display: block;
            }
            & PaneStrip {
                display: block;
            }
        }
        /* 80 columns have room for the time of day, not the date nor the currency. */
        &.-narrow StatusHeader #date, &.-narrow StatusHeader #currency {
            display: none;
        }
    }
    """

    current: reactive[int] = reactive(0, init=False, repaint=False)
    """Index of the pane that has (or last had) the focus (its watcher restyles what shows it;
    a repaint of the whole screen per Tab would cost a full frame)."""
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    """Textual's own, without its repaint of the whole screen on every change of focus: the
    widgets that gain and lose the focus restyle (and repaint) themselves. Measured on Tab at
    160x48: a full-screen frame each time without this."""

    def __init__(self, clock: Callable[[], int], venues: tuple[str, ...], currency: str) -> None:
        super().__init__()
        self._clock = clock
        self._venues = venues
        self._currency = currency

    def compose(self) -> ComposeResult:
        panes: tuple[TablePane, ...] = (
            OrdersPane(id="orders"),
            PositionsPane(id="positions"),
            DriftPane(id="drift"),
            AlertsPane(id="alerts"),
            UploadsPane(id="uploads"),
            HealthPane(id="health"),
        )
        panes[0].add_class("-current")
        yield StatusHeader(self._clock, self._venues, self._currency, id="header")
        yield PaneStrip(tuple(pane.TITLE for pane in panes), id="strip")
        with Container(id="panes"):
            yield from panes
        yield KeyFooter()

    def on_mount(self) -> None:
        self.panes[0].table.focus()

    @property
    def panes(self) -> list[TablePane]:
        """The panes in Tab order."""
        return list(self.query_one("#panes").query_children(TablePane))

    def watch_current(self, current: int) -> None:
        for index, pane in enumerate(self.panes):
            pane.set_class(index == current, "-current")
        self.query_one(PaneStrip).current = current

    @on(DescendantFocus)
    def _follow_focus(self, event: DescendantFocus) -> None:
        for index, pane in enumerate(self.panes):
            if event.widget in pane.walk_children():
                self.current = index
                return

    @on(AlertsPane.Open)
    def _open_alert(self, event: AlertsPane.Open) -> None:
        self.app.push_screen(AlertDetailScreen(event.alert))

    def action_next_pane(self) -> None:
        self._go_to(self.current + 1)

    def action_previous_pane(self) -> None:
        self._go_to(self.current - 1)

    def action_toggle_maximise(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.maximize(self.panes[self.current].table)

    def _go_to(self, index: int) -> None:
        panes = self.panes
        self.current = index % len(panes)
        pane = panes[self.current]
        table = pane.query_one(LineTable)
        # At once, so the pane and its focus are drawn in this key's frame. A pane just shown
        # (the narrow layout) has no region yet to scroll to: it fills the screen anyway.
        table.focus(scroll_visible=bool(pane.region.area))
        if self.maximized is not None:
            self.maximize(pane.table)
