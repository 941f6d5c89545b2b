"""The help screen: every key as it is bound now (remapped keys included), and the panes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

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
INTRO = (
    "Everything here is read from the OMS database; operator commands (kill, re-arm, rebalance) "
    "are written to it and the node applies them (an embedded node at once). "
    "Tab / shift+Tab move between panes, arrows and PgUp/PgDn scroll a table, ctrl+p opens "
    "the command palette (themes, views, actions)."
)

KeyRow = tuple[str, str, str]
"""A key as shown: the key(s), what it does, and its binding id (for a keymap)."""


class HelpScreen(ViewScreen):
    """The keys in force and what each pane shows."""

    DEFAULT_CSS = """
    HelpScreen {
        & > VerticalScroll {
            padding: 0 1;
        }
        & #title {
            text-style: bold;
            margin: 0 0 1 0;
        }
        & .section {
            text-style: bold;
            color: $accent;
            margin: 1 0 0 0;
        }
        & DataTable {
            height: auto;
            max-height: 20;
        }
    }
    """

    def __init__(self, keys: list[KeyRow]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("trade-console help", id="title")
            yield Static(INTRO)
            yield Static("Keys", classes="section")
            keys: DataTable[str] = DataTable(cursor_type="row", id="keys")
            keys.add_column("key", width=10)
            keys.add_column("id (for a keymap)", width=18)
            keys.add_column("does")
            for shown, does, binding_id in self.keys:
                keys.add_row(shown, binding_id, does, key=binding_id)
            yield keys
            yield Static("Panes", classes="section")
            for name, shows in PANES:
                yield Static(f"[b]{name}[/b]: {shows}", classes="pane")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#keys", DataTable).focus()
