"""``LaunchedRun``: one backtest launched from this console, its bar, speed and time left.

Focus it and press ``c`` to cancel the run. The figures come from the run's own process
(``core.runs.launcher``): simulated time done of the window, ticks so far, and the wall time
since launch; ticks per second and the time left are worked out here from those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import ProgressBar, Static

from core.runs.launcher import LaunchEnded, LaunchProgress


class LaunchedRun(Horizontal, can_focus=True):
    """A launched run's line: what it runs, a bar, and ticks/s and time left, or how it ended."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel run", id="backtest.cancel", tooltip="Cancel this run"),
    ]

    DEFAULT_CSS = """
    LaunchedRun {
        height: 1;
        padding: 0 1;
        &:focus { background: $boost; }
        & > #what { width: 1fr; max-width: 48; }
        & > ProgressBar { width: auto; margin-right: 1; }
        & > #figures { width: 2fr; color: $text-muted; }
        &.-done > #figures { color: $success; }
        &.-failed > #figures { color: $error; }
    }
    """

    @dataclass
    class CancelRequested(Message):
        """The operator asked to cancel this run."""

        run: LaunchedRun

        @property
        def control(self) -> LaunchedRun:
            return self.run

    def __init__(self, key: int, what: str) -> None:
        super().__init__(id=f"launched-{key}")
        self.key = key
        self.what = what
        """The run's instruments and window, as launched."""
        self.state = "STARTING"
        """STARTING, then the run's phase (reading, running, writing), then COMPLETED, FAILED
        or CANCELLED."""
        self.run_id: str | None = None
        self.folder: str | None = None
        self.error: str | None = None
        self.fraction = 0.0
        self._running_since: tuple[float, int, int] | None = None
        """(elapsed, done, ticks) at the first report of the running phase: the speed is
        measured from there, not from launch (the process's start-up is no simulation)."""

    def compose(self) -> ComposeResult:
        yield Static(f"#{self.key} {self.what}", id="what")
        yield ProgressBar(total=1.0, show_eta=False)
        yield Static("starting", id="figures")

    @property
    def over(self) -> bool:
        """Whether the run has ended (COMPLETED, FAILED or CANCELLED)."""
        return self.state in ("COMPLETED", "FAILED", "CANCELLED")

    def progress(self, event: LaunchProgress) -> None:
        """Show a progress report from the run's process."""
        if self.over:
            return
        self.state = event.phase
        self.fraction = event.done / event.total if event.total else 0.0
        if event.phase == "writing":
            self.fraction = 1.0
        figures = f"{event.phase} · {event.ticks:,} ticks"
        if event.phase == "running":
            if self._running_since is None:
                self._running_since = (event.elapsed, event.done, event.ticks)
            start, done0, ticks0 = self._running_since
            seconds = event.elapsed - start
            if seconds > 0 and event.done > done0:
                rate = (event.ticks - ticks0) / seconds
                left = seconds * (event.total - event.done) / (event.done - done0)
                figures += f" · {rate:,.0f} ticks/s · {left:,.0f} s left"
        self._draw(figures)

    def ended(self, event: LaunchEnded) -> None:
        """Show how the run ended: the state its summary and ``runs`` row hold (a run that
        completed before a cancel reached it is COMPLETED, here as in the run list)."""
        self.state = event.status
        self.run_id, self.folder, self.error = event.run_id, event.folder, event.error
        if self.state == "COMPLETED":
            self.fraction = 1.0
        text = " ".join(
            part for part in (self.state, event.run_id, event.folder or event.error) if part
        )
        self._draw(text)
        self.set_class(self.state == "COMPLETED", "-done")
        self.set_class(self.state != "COMPLETED", "-failed")

    def _draw(self, figures: str) -> None:
        """The bar at ``fraction`` and ``figures`` beside it. A run's last report can arrive
        while the console is closing and this line's parts are already taken down: then there
        is nothing to draw (and the console must not fail on its way out)."""
        try:
            bar = self.query_one(ProgressBar)
            shown = self.query_one("#figures", Static)
        except NoMatches:
            return
        bar.update(progress=self.fraction)
        shown.update(figures)

    def action_cancel(self) -> None:
        if not self.over:
            self.post_message(self.CancelRequested(self))
