"""The Backtests screen: the runs the OMS records, live; launching them comes in issue 8."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Static

from console.screens.view_screen import ViewScreen
from console.widgets.runs_pane import RunsPane

NOTE = (
    "Backtest runs recorded in the OMS (id, state, progress, result folder), updated live. "
    "Launching a backtest from the console comes in issue 8; until then run "
    "`trade-console backtest` in a shell."
)


class BacktestsScreen(ViewScreen):
    """A full-screen list of the OMS's ``runs`` table."""

    def compose(self) -> ComposeResult:
        yield Static("Backtests", id="title")
        yield Static(NOTE, id="note")
        yield RunsPane(id="runs")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RunsPane).table.focus()
