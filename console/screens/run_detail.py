"""The detail view of one backtest run: its summary, curves, fills, orders and uploads.

Everything is read off the loop (``core.runs.files`` in a thread: the run may be in a bucket,
its tables may hold millions of rows, of which only the last ``tail_rows`` are read) and shown
when it arrives; the uploads table follows the OMS like every pane. One scrolling column, so
the view works down to 80x24.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from console.screens.view_screen import ViewScreen
from console.widgets.cells import DASH, number, percent, pnl
from console.widgets.key_footer import KeyFooter
from console.widgets.line_plot import LinePlot, PlotSeries, percent_label
from console.widgets.line_table import LineTable
from console.widgets.run_file_table import run_columns, table_cells
from console.widgets.run_uploads_pane import RunUploadsPane
from core.data.results import FILLS_FILE, ORDERS_FILE, Summary
from core.runs.catalog import RunEntry
from core.runs.files import RunFiles, TableTail, read_run_files

TAIL_ROWS = 500
"""Fills and orders shown at most: the last ones of each file."""

NOTE = "Escape: back to the runs · arrows and page keys scroll · tab: the tables"


class RunDetailScreen(ViewScreen):
    """One run: summary figures, equity and drawdown plots, fills, orders, uploads."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="view.back", tooltip="Back to the runs"),
    ]

    DEFAULT_CSS = """
    RunDetailScreen {
        & > #body { height: 1fr; }
        & #figures { padding: 0 1; }
        & #equity { height: 10; }
        & #drawdown { height: 8; }
        & .caption { padding: 0 1; text-style: bold; margin-top: 1; }
        & #body > LineTable { height: auto; max-height: 14; }
        & RunUploadsPane { height: auto; max-height: 14; }
        & RunUploadsPane > LineTable { height: auto; }
    }
    """

    @dataclass
    class Loaded(Message, bubble=False):
        """The run's files, read by the loading thread."""

        files: RunFiles

    def __init__(self, entry: RunEntry, folder: str, *, tail_rows: int = TAIL_ROWS) -> None:
        super().__init__()
        self.entry = entry
        self.folder = folder
        self.tail_rows = tail_rows
        self.files: RunFiles | None = None
        """What was read (None until it arrives)."""

    def compose(self) -> ComposeResult:
        where = self.entry.where
        yield Static(f"Run {self.entry.run_id} · {self.entry.status} · {where}", id="title")
        yield Static(NOTE, id="note")
        with VerticalScroll(id="body"):
            yield Static(f"Reading {self.folder}...", id="figures")
            yield LinePlot("Equity", id="equity")
            yield LinePlot("Drawdown", y_label=percent_label, id="drawdown")
            yield Static("Fills", id="fills-caption", classes="caption")
            yield LineTable((), id="fills")
            yield Static("Orders", id="orders-caption", classes="caption")
            yield LineTable((), id="orders")
            yield RunUploadsPane(self.entry.run_id, id="uploads")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#body", VerticalScroll).focus()
        self._load()

    @work(thread=True, exclusive=True, group="run-detail", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(read_run_files(self.folder, self.tail_rows)))

    async def on_run_detail_screen_loaded(self, message: Loaded) -> None:
        files = self.files = message.files
        variables = self.app.theme_variables
        self.query_one("#figures", Static).update(figures_text(files, variables))
        if files.equity is not None and len(files.equity.ts_ns):
            xs = files.equity.ts_ns
            self.query_one("#equity", LinePlot).series = (
                PlotSeries("portfolio value", xs, files.equity.value),
            )
            # Drawdown as a fraction below the peak: 0 at the top, the deepest at the bottom.
            self.query_one("#drawdown", LinePlot).series = (
                PlotSeries("drawdown", xs, 0.0 - files.equity.drawdown_pct / 100.0 + 0.0),
            )
        await self._show_table("fills", FILLS_FILE, files.fills, files)
        await self._show_table("orders", ORDERS_FILE, files.orders, files)

    async def _show_table(
        self, name: str, file_name: str, tail: TableTail | None, files: RunFiles
    ) -> None:
        caption = self.query_one(f"#{name}-caption", Static)
        old = self.query_one(f"#{name}", LineTable)
        if tail is None:
            caption.update(f"{name.capitalize()}: {files.problems.get(file_name, 'not read')}")
            return
        shown = tail.table.num_rows
        if shown < tail.total:
            caption.update(f"{name.capitalize()}: the last {shown:,} of {tail.total:,}")
        else:
            caption.update(f"{name.capitalize()}: {tail.total:,}")
        rows = table_cells(tail.table)
        table = LineTable(run_columns(tail.table, rows), id=name)
        await old.remove()
        await self.query_one("#body", VerticalScroll).mount(table, after=caption)
        table.set_rows([(str(index), cells) for index, cells in enumerate(rows)])


def figures_text(files: RunFiles, variables: Mapping[str, str]) -> Text:
    """The summary's period, PnL, metrics and execution figures as a few lines of text."""
    text = Text(end="")
    summary = files.summary
    if summary is None:
        problem = files.problems.get("summary.json", "not read")
        text.append(f"summary.json: {problem}", style="bold")
        return text
    if summary.error is not None:
        text.append(f"{summary.status}: {summary.error}\n", style="bold")
    text.append_text(_period_line(summary))
    if summary.pnl is not None:
        money = summary.pnl
        text.append("\nPnL      net ")
        text.append_text(pnl(money.net_pnl, variables))
        text.append(
            f" · gross {number(money.gross_pnl)} · fees {number(money.total_fees)}"
            f" · funding {number(money.funding_paid)}"
            f" · {number(summary.starting_value)} -> {number(summary.final_value)}"
        )
    if summary.metrics is not None:
        m = summary.metrics
        dd = DASH if m.max_drawdown_pct is None else f"{m.max_drawdown_pct:.2f}%"
        text.append(
            f"\nMetrics  Sharpe {number(m.sharpe_ratio)} · Sortino {number(m.sortino_ratio)}"
            f" · max DD {dd} · win rate {percent(m.win_rate)}"
            f" · profit factor {number(m.profit_factor)} · trades {m.total_trades}"
        )
    stats = summary.execution_stats or {}
    if stats:
        text.append(
            f"\nOrders   {stats.get('orders', DASH)} · fills {stats.get('fills', DASH)}"
            f" · rejected {stats.get('rejected', DASH)}"
            f" · slippage {number(stats.get('avg_slippage_bps'))} bps"
            f" · ticks {number(stats.get('ticks_processed'), 0)}"
            f" · {number(stats.get('wall_seconds'), 1)} s"
        )
    for name, problem in files.problems.items():
        text.append(f"\n{name}: {problem}", style="bold")
    return text


def _period_line(summary: Summary) -> Text:
    backtest = summary.config.get("backtest", {}) if isinstance(summary.config, dict) else {}
    instruments = ", ".join(backtest.get("instruments") or ()) or DASH
    mode = backtest.get("mode") or DASH
    if summary.period is None:
        span = DASH
    else:
        span = f"{summary.period.start:%Y-%m-%d %H:%M} -> {summary.period.end:%Y-%m-%d %H:%M} UTC"
    return Text(f"Period   {span} · {mode} · {instruments}", end="")


__all__ = ["TAIL_ROWS", "RunDetailScreen", "figures_text"]
