"""The help screen: the keys of the screen it was opened from, as bound now, and what is true of
this console (a node inside it, or one watched through the OMS).

The keys come from that screen's active bindings (its own, its focused widget's, the app's), the
same list its footer is made from, so help cannot drift from the keys. Everything wraps to the
terminal's width: at 80 columns a description is never cut.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from console.screens.view_screen import ViewScreen
from console.widgets.key_footer import KeyFooter

PANES = (
    ("Orders", "open orders first, then the most recent others; status coloured"),
    ("Positions", "quantity, average and last fill price, PnL, weight of equity vs target"),
    ("Drift", "fills against their reference price in bps; mean, p95, over-threshold count"),
    ("Risk alerts", "time, severity, rule and message of what the risk rules raised"),
    ("Uploads", "the GCS upload queue: file, size, state, retries, last error"),
    ("Health", "node, data feed, venue connection, GCS and OMS"),
)
KEY_WIDTH = 10
"""The key column's width; the description takes the rest of the line and wraps."""

KeyRow = tuple[str, str, str]
"""A key as shown: the key(s), what it does, and its binding id (for a keymap)."""


def node_intro(node_mode: str | None, node_running: bool, node_refused: str | None) -> str:
    """What this console is to the node, in the words an operator needs before pressing k."""
    if node_mode is not None and node_refused is not None:
        return (
            f"This console was asked to run a {node_mode.upper()} node, but another node holds "
            "the OMS, so it watches that one. Everything here is read from the OMS database; "
            "the kill switch is written to it, and the node that holds it applies it."
        )
    if node_mode is not None:
        state = "runs" if node_running else "starts (or failed to start)"
        return (
            f"This console {state} a {node_mode.upper()} node in its own process (demo, "
            "--node): the panes read what it writes to the OMS database; the kill switch and "
            "a rebalance reach it at once and are recorded in the OMS. q asks whether to stop "
            "the node, detach from it (it trades on headless) or stay."
        )
    return (
        "This console runs no node: it watches the OMS database that a node writes "
        "(trade-console run, or another console's node). The kill switch is written to the "
        "OMS and that node applies it; the rebalance preview needs a node in this console."
    )


def screen_name(screen: Screen) -> str:
    """A view screen's name as its title bar says it (``Backtests``, ``Run ...``)."""
    titles = screen.query("#title").results(Static)
    for title in titles:
        content = title.content
        return content.plain if isinstance(content, Text) else str(content)
    return type(screen).__name__


def keys_table(keys: list[KeyRow]) -> Table:
    """The keys in two columns, the description (then the binding id) wrapping in the second."""
    table = Table(box=None, show_header=True, expand=True, pad_edge=False, header_style="bold")
    table.add_column("key", width=KEY_WIDTH, no_wrap=True)
    table.add_column("does · id (for a keymap)", ratio=1, overflow="fold")
    for shown, does, binding_id in keys:
        table.add_row(Text(shown), Text.assemble(does, (f" · {binding_id}", "dim")))
    return table


class HelpScreen(ViewScreen):
    """The keys in force on one screen and, from the dashboard, what each pane shows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "app.pop_screen",
            "Back",
            id="view.back",
            tooltip="Back to the screen help was opened from",
        ),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        & > VerticalScroll {
            padding: 0 1;
        }
        & #help-title {
            text-style: bold;
            margin: 0 0 1 0;
        }
        & .section {
            text-style: bold;
            color: $accent;
            margin: 1 0 0 0;
        }
    }
    """

    def __init__(
        self, screen_name: str, keys: list[KeyRow], intro: str, *, panes: bool = False
    ) -> None:
        super().__init__()
        self.screen_name = screen_name
        """The screen help was opened from (the keys are its keys)."""
        self.keys = keys
        self.intro = intro
        self.panes = panes
        """Describe the dashboard's panes (help was opened from the dashboard)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(f"Help: the keys of {self.screen_name}", id="help-title", markup=False)
            yield Static(self.intro, id="intro", markup=False)
            yield Static("Keys", classes="section")
            yield Static(keys_table(self.keys), id="keys")
            yield Static(
                "ctrl+p opens the command palette (actions, views, themes) on every screen.",
                id="palette",
            )
            if self.panes:
                yield Static("Panes", classes="section")
                for name, shows in PANES:
                    yield Static(Text.assemble((name, "bold"), f": {shows}"), classes="pane")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#help", VerticalScroll).focus()
