"""The Backtests screen: launch a backtest, follow and cancel the launched ones, and every run
the desk has (local folders, the results bucket, the OMS), with its detail view and compare.

Launched runs go to ``core.runs.launcher``: each in its own spawned process, never on the
console's loop, with progress coming back through a reader thread as messages. The screen is
installed once per app (``TradeConsoleApp.action_backtests``), so leaving it with Escape
leaves the runs and their bars as they are; the runs are cancelled when the console exits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

import msgspec
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from console.screens.run_compare import RunCompareScreen, SessionCompareScreen
from console.screens.run_detail import RunDetailScreen
from console.screens.view_screen import ViewScreen
from console.widgets.key_footer import KeyFooter
from console.widgets.launch_form import LaunchForm
from console.widgets.launched_run import LaunchedRun
from console.widgets.runs_pane import RunsPane
from core.runs.catalog import RunCatalog, RunEntry
from core.runs.launcher import LaunchEnded, LaunchEvent, LaunchProgress, RunLauncher

if TYPE_CHECKING:
    from core.config import AppConfig

NOTE = (
    "ctrl+r launches the form · c cancels a launched run · runs: Enter details, space marks, "
    "= compares marked, v vs session, s/S sort, / filter, ctrl+l rescans"
)


class BacktestsScreen(ViewScreen):
    """The launcher form, one line per launched run, and the desk's run list."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *ViewScreen.BINDINGS,
        Binding(
            "ctrl+r",
            "launch",
            "Launch",
            id="backtest.launch",
            tooltip="Launch a backtest of the form's fields",
            priority=True,
        ),
        Binding(
            "ctrl+l",
            "rescan",
            "Rescan",
            id="backtest.rescan",
            tooltip="Read the local run folders and list the results bucket again",
        ),
    ]

    DEFAULT_CSS = """
    BacktestsScreen {
        & > #launched { height: auto; max-height: 8; }
        & > RunsPane { height: 1fr; }
    }
    """

    @dataclass
    class RunEvent(Message, bubble=False):
        """A launched run's progress or end, from the launcher's reader thread."""

        event: LaunchEvent

        def can_replace(self, message: Message) -> bool:
            # A newer report of the same run makes a pending one pointless (never its end).
            return (
                isinstance(message, BacktestsScreen.RunEvent)
                and isinstance(self.event, LaunchProgress)
                and isinstance(message.event, LaunchProgress)
                and message.event.key == self.event.key
            )

    def __init__(self) -> None:
        super().__init__()
        self.launcher = RunLauncher(lambda event: self.post_message(self.RunEvent(event)))
        self.runs: dict[int, LaunchedRun] = {}
        """The runs launched from this screen, by key."""

    def compose(self) -> ComposeResult:
        yield Static("Backtests", id="title")
        yield Static(NOTE, id="note")
        yield LaunchForm(cast("AppConfig", self.app.config), id="form")
        yield VerticalScroll(id="launched")
        results = cast("AppConfig", self.app.config).results
        yield RunsPane(RunCatalog(results.root, results.upload_root), id="runs")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(RunsPane).table.focus()

    def on_unmount(self) -> None:
        self.launcher.close()

    def action_launch(self) -> None:
        self.query_one(LaunchForm).submit()

    def action_rescan(self) -> None:
        self.query_one(RunsPane).rescan()

    @on(RunsPane.Open)
    def _open_run(self, message: RunsPane.Open) -> None:
        folder = self._folder(message.entry)
        if folder is not None:
            self.app.push_screen(RunDetailScreen(message.entry, folder))

    @on(RunsPane.Compare)
    def _compare(self, message: RunsPane.Compare) -> None:
        self.app.push_screen(RunCompareScreen(message.folders))

    @on(RunsPane.CompareSession)
    def _compare_session(self, message: RunsPane.CompareSession) -> None:
        folder = self._folder(message.entry)
        if folder is not None:
            self.app.push_screen(SessionCompareScreen(folder))

    def _folder(self, entry: RunEntry) -> str | None:
        """The run's folder (local before bucket), or None with a notice saying there is none."""
        if not entry.folders:
            self.notify(f"{entry.run_id}: no result folder yet", timeout=4)
            return None
        return entry.folders[0]

    @on(LaunchForm.Launch)
    async def _launch(self, message: LaunchForm.Launch) -> None:
        config = message.config
        if any(not run.over for run in self.runs.values()):
            # Two runs recording their trading at once would interleave in the dashboard's
            # one "current backtest" view (the batch does the same); their runs rows remain.
            oms = msgspec.structs.replace(config.oms, record_backtests=False)
            config = msgspec.structs.replace(config, oms=oms)
        # Starting a spawned process takes tens of ms: off the loop. Its events wait for this
        # handler (a screen handles its messages one at a time), so none precedes its line.
        key = await asyncio.to_thread(self.launcher.launch, config)
        bt = config.backtest
        instruments = ",".join(bt.instruments) or "every instrument"
        window = f"{bt.start or 'first day'}..{bt.end or 'last day'}"
        what = f"{instruments} {window} {bt.mode}"
        run = LaunchedRun(key, what)
        self.runs[key] = run
        await self.query_one("#launched", VerticalScroll).mount(run)
        self.notify(f"Backtest #{key} launched", timeout=3)

    @on(LaunchedRun.CancelRequested)
    def _cancel(self, message: LaunchedRun.CancelRequested) -> None:
        if self.launcher.cancel(message.run.key):
            self.notify(f"Cancelling backtest #{message.run.key}...", timeout=3)

    @on(RunEvent)
    def _run_event(self, message: RunEvent) -> None:
        event = message.event
        run = self.runs.get(event.key)
        if run is None:
            return
        if isinstance(event, LaunchEnded):
            run.ended(event)
            severity = "information" if run.state == "COMPLETED" else "warning"
            self.notify(f"Backtest #{event.key} {run.state}", severity=severity, timeout=5)
        else:
            run.progress(event)
