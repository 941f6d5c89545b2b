"""The compare screens: backtests side by side (``RunCompareScreen``, ``=`` on the run list) and a
backtest against the OMS's shadow session over its period (``SessionCompareScreen``, ``v``).

Both read their data off the event loop (parquet files, possibly on GCS, and the OMS in a
thread of their own), then fill a table and overlaid curves. The content scrolls, so the
screens work at 80x24: the table first, the plots below. Escape goes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from console.commands.compare import ORDER_COLUMNS, TOTAL_COLUMNS, order_cells, total_cells
from console.screens.view_screen import ViewScreen
from console.widgets.key_footer import KeyFooter
from console.widgets.line_plot import LinePlot, PlotSeries, epoch_ns_label, number_label
from core.errors import TradeConsoleError
from core.runs.compare import (
    CurveSet,
    RunComparison,
    compare_runs,
    elapsed_label,
    format_value,
    table_cells,
)
from core.runs.session_compare import SessionComparison, compare_session


def percent_points(value: float) -> str:
    """A y label for values already in percent: ``-0.96%``."""
    return f"{value:.2f}%"


class CompareScreen(ViewScreen):
    """What both compare screens share: a scrolling body, a status line, the load message."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *ViewScreen.BINDINGS,
        Binding(
            "r", "reload", "Reload", id="compare.reload", tooltip="Read the runs and the OMS again"
        ),
    ]

    DEFAULT_CSS = """
    CompareScreen {
        & > VerticalScroll { height: 1fr; }
        & #status { padding: 0 1; color: $text-muted; }
        & #status.failed { color: $error; }
        & DataTable { height: auto; max-height: 20; margin: 0 0 1 0; }
        & LinePlot { height: 12; margin: 0 1 1 0; }
        & .line { padding: 0 1; }
    }
    """

    @dataclass
    class Failed(Message):
        """The comparison could not be built (one line: what and where)."""

        bubble: ClassVar[bool] = False
        error: str

    def action_reload(self) -> None:
        status = self.query_one("#status", Static)
        status.remove_class("failed")  # a failed read's colour must not outlive it
        status.update("reading...")
        self.load()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def load(self) -> None:
        """Read in a thread; post what was read, or the one-line reason it could not be."""
        try:
            message = self.read()
        except TradeConsoleError as error:
            self.post_message(self.Failed(str(error)))
            return
        self.post_message(message)

    def read(self) -> Message:
        """Read everything the screen shows and wrap it in its ``Loaded`` message (in a
        thread: touch no widget)."""
        raise NotImplementedError

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        status = self.query_one("#status", Static)
        status.add_class("failed")
        status.update(message.error)


class RunCompareScreen(CompareScreen):
    """Two or more result folders: their metrics side by side (with the difference from the
    first) and their equity curves and drawdowns overlaid."""

    @dataclass
    class Loaded(Message):
        """The runs were read."""

        bubble: ClassVar[bool] = False
        comparison: RunComparison

    def __init__(self, folders: Sequence[str]) -> None:
        super().__init__()
        self.folders = tuple(folders)
        self.comparison: RunComparison | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Compare {len(self.folders)} runs", id="title")
        yield Static("the first run is the reference · r reload · Esc back", id="note")
        with VerticalScroll():
            yield Static("reading the runs...", id="status")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="metrics")
            yield LinePlot("Equity", id="equity")
            yield LinePlot("Drawdown %", y_label=percent_points, id="drawdown")
        yield KeyFooter()

    def read(self) -> Message:
        return self.Loaded(compare_runs(self.folders))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        comparison = self.comparison = message.comparison
        self.query_one("#status", Static).update(comparison.curves.title)
        header, rows = table_cells(comparison)
        table = self.query_one("#metrics", DataTable)
        table.clear(columns=True)
        table.add_columns(*header)
        for cells in rows:
            table.add_row(*cells, key=cells[0])
        _draw(self.query_one("#equity", LinePlot), comparison.curves, "equity")
        _draw(self.query_one("#drawdown", LinePlot), comparison.curves, "drawdown")


def _draw(plot: LinePlot, curves: CurveSet, which: str) -> None:
    chosen = curves.equity if which == "equity" else curves.drawdown
    plot.x_label = epoch_ns_label if curves.axis == "time" else elapsed_label
    if which == "equity":
        plot.title = curves.title
        plot.y_label = percent_points if curves.unit == "return_pct" else number_label
    plot.series = tuple(PlotSeries(c.name, c.xs, c.ys) for c in chosen)


class SessionCompareScreen(CompareScreen):
    """A backtest against the OMS's shadow session over its period: matched orders, what is only
    on one side, the per-instrument totals, and the PnL difference split into its causes."""

    @dataclass
    class Loaded(Message):
        """The backtest and the session were read."""

        bubble: ClassVar[bool] = False
        report: SessionComparison

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder
        self.report: SessionComparison | None = None

    def compose(self) -> ComposeResult:
        yield Static("Backtest vs shadow session", id="title")
        yield Static(f"{self.folder} · r reload · Esc back", id="note")
        with VerticalScroll():
            yield Static("reading the backtest and the OMS...", id="status")
            yield Static("", id="session", classes="line")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="orders")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="totals")
            yield LinePlot("PnL", id="curves")
            yield Static("", id="curve-note", classes="line")
        yield KeyFooter()

    def read(self) -> Message:
        database = self.app.config.oms.location  # type: ignore[attr-defined]
        return self.Loaded(asyncio.run(compare_session(self.folder, database)))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        report = self.report = message.report
        a = report.attribution
        self.query_one("#status", Static).update(report.summary_line())
        # Without a session there is nothing to compare: no tables, no curves, no PnL.
        for part in self.query("#orders, #totals, #curves, #curve-note"):
            part.display = report.covered
        if not report.covered:
            self.query_one("#session", Static).update(report.session_line())
            return
        self.query_one("#session", Static).update(
            f"{report.session_line()}\nPnL: backtest {format_value(a.backtest_pnl, 'money')}, "
            f"shadow {format_value(a.shadow_pnl, 'money')} (at the backtest's closing marks)"
        )
        orders = self.query_one("#orders", DataTable)
        orders.clear(columns=True)
        orders.add_columns(*ORDER_COLUMNS)
        for pair in report.pairs:
            orders.add_row(*order_cells(pair), key="|".join(pair.key))
        totals = self.query_one("#totals", DataTable)
        totals.clear(columns=True)
        totals.add_columns(*TOTAL_COLUMNS)
        for backtest, shadow in report.totals:
            totals.add_row(*total_cells(backtest, shadow))
        plot = self.query_one("#curves", LinePlot)
        plot.title = "PnL"
        plot.series = tuple(PlotSeries(c.name, c.xs, c.ys) for c in report.curves)
        self.query_one("#curve-note", Static).update(report.curve_note)
