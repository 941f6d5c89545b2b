"""``TradeConsoleApp``: the dashboard over the OMS, and the one place that reads it.

Data flows one way. An exclusive worker watches the OMS for commits (``OmsStore.watch``: this
process's writes at once, another process's within ``poll_interval``) and posts ``OmsChanged``;
the app then reads, in a worker, the data of each pane whose tables changed, and shows it: all
stale panes are read together, at most once per ``refresh_interval`` however fast the commits
come, and shown in one frame. Health is read every ``health_interval``. Panes never read or
write the OMS themselves, and nothing here reaches into a node: the only writes are the
operator's own (the kill switch), as records in the OMS.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from console.preferences import remember_theme, remembered_theme
from console.screens.backtests import BacktestsScreen
from console.screens.dashboard import DashboardScreen
from console.screens.help import HelpScreen, KeyRow, node_intro, screen_name
from console.screens.kill_details import KillContext
from console.screens.kill_switch import KillDecision, KillSwitchScreen
from console.screens.quit import QuitChoice, QuitScreen
from console.screens.rebalance import TARGETS_FILE, RebalanceScreen
from console.screens.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from console.state_toasts import StateToasts, until_changed
from console.widgets.oms_pane import OmsPane
from core.config import AppConfig
from core.errors import TradeConsoleError, one_line
from core.oms import OmsError, OmsStore, TargetsRecord
from core.oms.health import NODE_DOWN, Health, collect_health, node_down_alert
from core.risk.restore import read_restore_offer
from core.risk.trading_state import (
    StateRequest,
    change_trading_state,
    operator_name,
    outcome_message,
    provisional_record,
    read_trading_state,
)
from themes import STYLESHEET, THEMES
from themes.trade import TRADE_DARK

if TYPE_CHECKING:
    from core.live.session import NodeSession

_log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
HEALTH_TABLES = frozenset({"node_status", "trading_state", "uploads"})
"""Commits to these change what the header and the Health pane say: read health at once."""
GC_THRESHOLDS = (5_000, 20, 100)
"""The garbage collector's thresholds in a running console (Python's defaults: 700, 10, 10)."""
UPLOAD_POLL_SECS = 5.0
"""How often the console looks for queued uploads when none is pending."""
_VIEW_ACTIONS = frozenset({"kill_switch", "rebalance", "backtests", "help"})


@dataclass(frozen=True)
class Detached:
    """A node whose console left without stopping it: it goes on headless in this process."""

    session: NodeSession
    reason: str
    """Why: the operator chose to detach, or the terminal hung up (SIGHUP)."""
    terminal_gone: bool
    """The terminal no longer exists (nothing may be written to it)."""


class TradeConsoleApp(App[None]):
    """The trading desk's console: a dashboard over the OMS database named in ``config``.

    ``store`` is an OMS store opened on this event loop (the command line opens it first, so a
    bad database is reported before anything is drawn); without one the app opens
    ``config.oms.location`` itself and exits with code 2 and the OMS's message if it cannot.
    ``clock`` gives the wall clock in ns (the header's time, health's "now"): tests fix it.
    """

    TITLE = "trade-console"
    CSS_PATH = STYLESHEET

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "k",
            "kill_switch",
            "Kill",
            id="risk.kill",
            tooltip="Kill switch: halt, reduce only, flatten or re-arm (a choice, then y)",
        ),
        Binding(
            "r",
            "rebalance",
            "Rebalance",
            id="rebalance.preview",
            tooltip="Rebalance: with a node in this console, the orders the targets need, to "
            "edit and send; without one, the last targets file",
        ),
        Binding(
            "b",
            "backtests",
            "Backtests",
            id="backtest.open",
            tooltip="Backtests: launch, follow and cancel runs; the runs recorded in the OMS",
        ),
        Binding(
            "question_mark",
            "help",
            "Help",
            key_display="?",
            id="app.help",
            tooltip="Help: the keys of this screen, and what this console is to the node",
        ),
        Binding(
            "q",
            "quit",
            "Quit",
            id="app.quit",
            tooltip="Quit the console (with a node inside: stop it, detach, or stay)",
        ),
    ]

    health: reactive[Health | None] = reactive(None)
    """The latest health reading (None until the first), shown by the header and Health pane."""

    @dataclass
    class OmsChanged(Message):
        """These OMS tables were committed to (merges with a later change of the same tables)."""

        tables: frozenset[str]

        def can_replace(self, message: Message) -> bool:
            # A burst of commits posts one of these per commit: a pending later change that
            # covers the same tables makes this one redundant.
            return isinstance(message, TradeConsoleApp.OmsChanged) and self.tables <= message.tables

    @dataclass
    class PanesRead(Message):
        """What one read tick read: each pane with its data."""

        results: tuple[tuple[OmsPane, object], ...]

    @dataclass
    class HealthRead(Message):
        """A fresh health reading."""

        health: Health

    @dataclass
    class KillContextRead(Message):
        """What the OMS says for an open kill switch: positions, the targets a flatten replaced."""

        screen: KillSwitchScreen
        context: KillContext

    def __init__(
        self,
        config: AppConfig,
        *,
        store: OmsStore | None = None,
        clock: Callable[[], int] = time.time_ns,
        refresh_interval: float = 0.05,
        poll_interval: float = 0.02,
        health_interval: float = 1.0,
        targets_file: str = TARGETS_FILE,
        tune_gc: bool = False,
        node_mode: str | None = None,
        confirm_live: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.store = store
        self.clock = clock
        self.refresh_interval = refresh_interval
        """A pane is read at most once per this many seconds, however fast the OMS changes."""
        self.poll_interval = poll_interval
        """How often another process's commits are looked for (one small indexed read)."""
        self.health_interval = health_interval
        self.targets_file = targets_file
        self.tune_gc = tune_gc
        """Freeze the startup heap and collect garbage less often once the screen is up (see
        ``on_ready``): for the long-running console, not for a test that starts dozens."""
        self.node_mode = node_mode
        """``shadow`` or ``live``: run the node on this app's loop; None: a console only."""
        self.confirm_live = confirm_live
        self.node: NodeSession | None = None
        """The embedded node once built (it writes the OMS the panes read)."""
        self.node_refused: str | None = None
        """Why the embedded node did not start: another node holds the OMS (one line)."""
        self._owns_store = store is None
        self._views: set[OmsPane] = set()
        """The panes the OMS feeds, registered as they mount."""
        self._stale: set[OmsPane] = set()
        """Panes whose tables changed since they were last read."""
        self._reading: set[OmsPane] = set()
        self._tick: Timer | None = None
        """The next read of the stale panes, when planned."""
        self._last_tick = -math.inf
        self.dashboard: DashboardScreen | None = None
        self._death_alerted: str | None = None
        """The node_down alert this console wrote (one per death, not one per reading)."""
        self._oms_lost: str | None = None
        """Why the OMS cannot be read, while it cannot (one notice per outage)."""
        self.detached: Detached | None = None
        """Set when the console left its node running (``detach``): the caller runs it on."""
        self.state_toasts = StateToasts(self)
        """Toasts about a state (a kill, NODE DOWN), removed once the state has changed."""
        for theme in THEMES:
            self.register_theme(theme)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Any theme (a built-in one picked from Textual's own list) gets the console's
        # variables, so the stylesheet always parses.
        return dict(TRADE_DARK.variables)

    async def on_mount(self) -> None:
        # The operator's last choice of theme, else the desk's config.
        self.theme = remembered_theme(set(self.available_themes)) or self.config.console.theme
        if self.store is None:
            try:
                self.store = await OmsStore.open(self.config.oms.location)
            except OmsError as error:
                self.exit(return_code=EXIT_BAD_INPUT, message=str(error))
                return
        self.dashboard = DashboardScreen(
            self.clock,
            tuple(venue.name for venue in self.config.venues),
            self.config.strategy.valuation_currency,
        )
        await self.push_screen(self.dashboard)
        self._watch_oms()
        if self.node_mode is not None:
            self._start_node()
        if self.config.results.upload_root:
            self._drain_uploads()
        self._read_health()
        self.set_interval(self.health_interval, self._read_health)
        self._check_size(self.size.width, self.size.height)

    def on_ready(self) -> None:
        if self.tune_gc:
            # A full collection walks every object: with the widgets, styles and caches of a
            # drawn dashboard it took 60-90 ms, a stall seen as a frozen table (and the p99 of
            # the benchmark). Frozen, the startup objects are skipped; rarer collections (the
            # tables' garbage is freed by reference counting, not by the collector) stall less
            # often: p99 at 1,000 events/s went from ~430 to ~200-290 ms at 160x48.
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)

    async def on_unmount(self) -> None:
        await self.stop_node()
        if self._owns_store and self.store is not None:
            await self.store.close()

    # -- the upload queue ---------------------------------------------------------------------

    @work(exclusive=True, group="uploads", exit_on_error=False)
    async def _drain_uploads(self) -> None:
        # Queued uploads (a backtest's that did not finish, a failed one re-queued from a shell)
        # resume while the console runs; the bytes move on worker threads, not on this loop.
        from core.runs.uploads import UploadQueue

        assert self.store is not None
        queue = UploadQueue(self.store, self.config.uploads)
        while True:
            try:
                await queue.drain(self.config.uploads.wait_secs)
            except TradeConsoleError as error:
                self.notify(str(error), title="Uploads", severity="error", timeout=10)
            await asyncio.sleep(UPLOAD_POLL_SECS)

    # -- the embedded node --------------------------------------------------------------------

    @work(exclusive=True, group="node", exit_on_error=False)
    async def _start_node(self) -> None:
        # Imported here: a console without a node never loads Nautilus (0.3 GB, a second).
        from core.live.lease import NodeLeaseHeld
        from core.live.session import NodeSession

        assert self.store is not None
        try:
            # Takes the OMS first: another node on it refuses this one, which builds nothing.
            self.node = await NodeSession.create(
                self.config, self.store, mode=self.node_mode, confirm_live=self.confirm_live
            )
        except NodeLeaseHeld as error:
            # The console stays a viewer of the OMS (and of the node that holds it); it exits
            # with code 2 when the operator quits, as `run` would at once.
            self.node_refused = str(error)
            self.notify(self.node_refused, title="Node not started", severity="error", timeout=60)
            return
        except TradeConsoleError as error:
            self.notify(str(error), title="Node not started", severity="error", timeout=20)
            return
        self.notify(f"Starting the {self.node_mode} node...", timeout=3)
        state = await self.node.start()
        if self.tune_gc:
            # Nautilus's objects join the frozen startup heap: a full collection walking them
            # stalled a flat-out replay's loop up to 55 ms (6 ms once frozen).
            gc.collect()
            gc.freeze()
        if state.node_state == "RUNNING":
            self.notify(
                f"Node RUNNING: {state.mode} on {state.source}, {', '.join(state.venues)}",
                timeout=5,
            )
        else:
            self.notify(state.detail, title=f"Node {state.node_state}", severity="error")
        self._read_health()

    async def stop_node(self) -> None:
        """Stop the embedded node, if one runs (cleanly: never ``node.dispose()``)."""
        node, self.node = self.node, None
        if node is not None:
            await node.stop()

    async def action_quit(self) -> None:
        """Quit; with a node inside, first ask: stop it, detach from it, or stay."""
        if self.node is None:
            if self.node_refused is not None:  # asked for a node, and another held the OMS
                self.exit(return_code=EXIT_BAD_INPUT, message=self.node_refused)
            else:
                self.exit()
            return
        if not isinstance(self.screen, QuitScreen):
            mode = (self.node_mode or "").upper()
            self.push_screen(QuitScreen(f"the {mode} node"), self._quit_chosen)

    async def _quit_chosen(self, choice: QuitChoice | None) -> None:
        if choice == "stop":
            self.notify("Stopping the node...", timeout=3)
            await self.stop_node()
            self.exit()
        elif choice == "detach":
            self.detach("the operator detached the console")

    def detach(self, reason: str, *, terminal_gone: bool = False) -> None:
        """Leave the console and keep the node running (``self.detached`` says what to run on).

        The node is handed over before the app unmounts, so unmounting does not stop it.
        """
        node, self.node = self.node, None
        if node is not None:
            self.detached = Detached(node, reason, terminal_gone)
        self.exit()

    def hang_up(self) -> None:
        """SIGHUP: the terminal is gone (a dropped SSH session). A node inside keeps trading."""
        self.detach("SIGHUP: the terminal hung up", terminal_gone=True)

    # -- terminal size ------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int, height: int) -> None:
        if self.dashboard is None:
            return
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        showing = isinstance(self.screen, TooSmallScreen)
        if small and showing:
            self.screen.show_size(width, height)
        elif small and not isinstance(self.screen, KillSwitchScreen):
            # An open kill switch stays in front: it works down to 40x10, and its y must not
            # go to the notice. The notice comes when it closes (``_halt``).
            self.push_screen(TooSmallScreen(width, height))
        elif showing:
            self.pop_screen()

    # -- reading the OMS ----------------------------------------------------------------------

    def register_view(self, view: OmsPane) -> None:
        """Read ``view``'s data once it shows, and again whenever its tables change."""
        self._views.add(view)
        self.request(view)

    def unregister_view(self, view: OmsPane) -> None:
        """Stop reading for ``view`` (it is being removed)."""
        self._views.discard(view)
        self._stale.discard(view)

    @work(exclusive=True, group="oms-watch", exit_on_error=False)
    async def _watch_oms(self) -> None:
        """Tell the panes what changed, for as long as the console runs.

        The OMS may become unreadable for a while (its PostgreSQL server restarting): one
        notice says so, the Health pane and the header show the OMS DOWN, the panes keep the
        last state read; the watch tries again every few seconds and, once back, takes up from
        the last version it saw, so no change made meanwhile is missed.
        """
        assert self.store is not None
        since: int | None = None
        delay = 1.0
        while True:
            try:
                if since is None:
                    since = await self.store.version()
                elif self._oms_lost is not None:
                    await self.store.version()  # it answers again
                if self._oms_lost is not None:
                    self._oms_back()
                    delay = 1.0
                async for changes in self.store.watch(since=since, interval=self.poll_interval):
                    since = changes.version
                    self.post_message(self.OmsChanged(changes.tables))
            except OmsError as error:
                if self._oms_lost is None:
                    self._oms_lost = one_line(error)
                    _log.error("the OMS cannot be read: %s", self._oms_lost)
                    self.notify(
                        f"{self._oms_lost}; the panes keep the last state read, retrying",
                        title="OMS unreachable",
                        severity="error",
                        timeout=10,
                    )
                    self._read_health()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _oms_back(self) -> None:
        _log.warning("the OMS can be read again (it was: %s)", self._oms_lost)
        self._oms_lost = None
        self.notify("the OMS can be read again", title="OMS reachable", timeout=5)

    @on(OmsChanged)
    def _oms_changed(self, message: OmsChanged) -> None:
        for view in self._views:
            if view.TABLES & message.tables:
                self.request(view)
        if message.tables & HEALTH_TABLES:
            self._read_health()

    def request(self, view: OmsPane) -> None:
        """Read ``view``'s data at the next read tick (at once if none was due)."""
        if view not in self._views or self.store is None:
            return
        self._stale.add(view)
        self._plan_tick()

    def _plan_tick(self) -> None:
        # All stale panes are read together, at most once per refresh interval: their new rows
        # reach the screen in one frame, not in one frame each.
        due = [view for view in self._stale if view.showing and view not in self._reading]
        if not due or self._tick is not None:
            return
        wait = self._last_tick + self.refresh_interval - time.monotonic()
        if wait > 0:
            self._tick = self.set_timer(wait, self._read_due)
        else:
            self._read_due()

    def _read_due(self) -> None:
        self._tick = None
        self._last_tick = time.monotonic()
        due = [view for view in self._stale if view.showing and view not in self._reading]
        self._stale.difference_update(due)
        self._reading.update(due)
        # One read per pane at a time is guaranteed here, not by cancelling: a read cancelled
        # by the next commit would, at 1,000 events/s, never finish.
        names = ", ".join(view.TITLE for view in due)
        # The worker calls ``_read`` itself: a coroutine made here and never started (the app
        # closing before the worker runs) would be reported as never awaited.
        self.run_worker(
            functools.partial(self._read, due),
            name=f"read {names}",
            group="oms-read",
            exit_on_error=False,
        )

    async def _read(self, views: list[OmsPane]) -> None:
        assert self.store is not None
        results: list[tuple[OmsPane, object]] = []
        failure: Exception | None = None
        try:
            for view in views:
                try:
                    results.append((view, await view.fetch(self.store)))
                except Exception as error:  # one pane's failure must not hold back the others
                    failure = failure or error
        finally:
            self._reading.difference_update(views)
            self._plan_tick()
        self.post_message(self.PanesRead(tuple(results)))
        if failure is not None:
            raise failure

    @on(PanesRead)
    def _panes_read(self, message: PanesRead) -> None:
        # Shown together, the panes' new rows cost the screen one frame, not one each.
        with self.batch_update():
            for view, data in message.results:
                if view in self._views:
                    view.show(data)

    @work(exclusive=True, group="health", exit_on_error=False)
    async def _read_health(self) -> None:
        assert self.store is not None
        console = self.config.console
        health = await collect_health(
            self.store,
            now_ns=self.clock(),
            stale_after_s=console.stale_after_secs,
            down_after_s=console.down_after_secs,
        )
        self.post_message(self.HealthRead(health))

    @on(HealthRead)
    def _health_read(self, message: HealthRead) -> None:
        self.health = message.health
        self.state_toasts.check(message.health)
        alert = node_down_alert(message.health)
        if alert is not None and alert.alert_id != self._death_alerted:
            # Whoever notices first writes it; the OMS keeps one row per death (by its id).
            assert self.store is not None
            self._death_alerted = alert.alert_id
            self.store.submit(alert)
            self.state_toasts.show(
                alert.message,
                lambda health: health.node_state == NODE_DOWN,  # gone once a node beats again
                title="NODE DOWN",
                severity="error",
                timeout=30,
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every background failure becomes a notice the operator sees (and a log line)."""
        if event.state is not WorkerState.ERROR:
            return
        worker = event.worker
        error = worker.error
        text = one_line(error) if error is not None else "failed"
        _log.error("%s failed: %s", worker.name, text, exc_info=error)
        self.notify(text, title=f"{worker.name} failed", severity="error", timeout=10)
        if worker.group == "oms-watch":
            # Live updates must not stop for good on one bad read: try again shortly.
            self.set_timer(2.0, self._watch_oms)

    # -- keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Over a dialog or the too-small notice, the screens' keys wait (q still quits); the
        # kill switch opens over the notice, as it fits a small terminal.
        if action == "kill_switch" and isinstance(self.screen, TooSmallScreen):
            return True
        covered = isinstance(self.screen, ModalScreen | TooSmallScreen)
        return not (covered and action in _VIEW_ACTIONS)

    def action_kill_switch(self, grade: str | None = None) -> None:
        """Open the kill switch; ``grade`` (halt, reduce, flatten, rearm) comes chosen, from
        the palette: the operator still reads the dialog and presses ``y``."""
        screen = KillSwitchScreen(self.health, can_restore=self.node is not None, grade=grade)
        self.push_screen(screen, callback=self._halt)
        self._read_kill_context(screen)

    def action_rebalance(self) -> None:
        if self.node is not None:
            # Imported here: the preview's types come with the node (Nautilus).
            from console.screens.rebalance_preview import RebalancePreviewScreen

            self._open(RebalancePreviewScreen(self.node))
            return
        self._open(RebalanceScreen(self.targets_file))

    def action_backtests(self) -> None:
        # Installed once: the runs launched from it, and their bars, outlive an Escape.
        if not self.is_screen_installed("backtests"):
            self.install_screen(BacktestsScreen(), "backtests")
        self._open(self.get_screen("backtests"))

    def action_help(self) -> None:
        # Over the screen it is opened from (Escape goes back there), with that screen's keys.
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        intro = node_intro(self.node_mode, self.node is not None, self.node_refused)
        dashboard = screen is self.dashboard
        name = "the dashboard" if dashboard else screen_name(screen)
        self.push_screen(HelpScreen(name, self.key_rows(screen), intro, panes=dashboard))

    def _open(self, screen: Screen[None]) -> None:
        # One view screen at a time over the dashboard: b then r shows the rebalance screen
        # with Escape back to the dashboard, not to the backtests.
        if type(self.screen) is type(screen):
            return
        while len(self.screen_stack) > 1 and self.screen is not self.dashboard:
            self.pop_screen()
        self.push_screen(screen)

    def key_rows(self, screen: Screen) -> list[KeyRow]:
        """The keys that act on ``screen`` now (its own, its focused widget's and the app's, a
        keymap's changes included): the bindings its footer is made from, so help cannot
        drift from them."""
        rows: list[KeyRow] = []
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if binding.id is None or binding.id in seen or not active.enabled:
                continue
            seen.add(binding.id)
            shown = binding.key_display or self.get_key_display(binding)
            rows.append((shown or key, binding.tooltip or binding.description, binding.id))
        return rows

    # -- the kill switch ----------------------------------------------------------------------

    @work(group="kill-switch", exit_on_error=False)
    async def _read_kill_context(self, screen: KillSwitchScreen) -> None:
        # Read as the dialog opens, so that the flatten's list of positions and the re-arm's
        # targets are there by the time a grade is chosen; the dialog works without them.
        assert self.store is not None
        try:
            positions = tuple(await self.store.positions())
            context = KillContext(positions, await read_restore_offer(self.store))
        except OmsError as error:
            context = KillContext(error=one_line(error))
        self.post_message(self.KillContextRead(screen, context))

    @on(KillContextRead)
    def _kill_context_read(self, message: KillContextRead) -> None:
        if message.screen.is_mounted:
            message.screen.show_context(message.context)

    def _halt(self, decision: KillDecision | None) -> None:
        # The terminal may have shrunk (or grown) while the dialog was in front.
        self._check_size(self.size.width, self.size.height)
        if decision is None:
            self.notify("Kill switch closed: nothing was changed.", timeout=4)
            return
        self._record_halt(decision.request, decision.restore)

    # Not exclusive: a later change (a re-arm right after a kill) must not cancel this one
    # half-written; the OMS orders them by their stamps.
    @work(group="kill-switch", exit_on_error=False)
    async def _record_halt(
        self, request: StateRequest, restore: TargetsRecord | None = None
    ) -> None:
        assert self.store is not None
        if self.node is not None and not request.flatten:
            # This console's node stops now, not after the write; its alert says who and why.
            origin = provisional_record(request, operator_name(), "console", self.clock())
            self.node.hold(request.state, origin)
        try:
            in_force = await change_trading_state(
                self.store,
                request.state,
                operator_name(),
                request.reason,
                flatten=request.flatten,
                now_ns=self.clock(),
                source="console",
            )
        except TradeConsoleError as error:
            held = self.node is not None and self.node.trading_state == request.state
            what = f"this node is {request.state} until a recorded change" if held else "nothing"
            self.notify(
                f"{request.state} NOT recorded in the OMS ({error}); {what} changed",
                title="Kill switch",
                severity="error",
                timeout=30,
            )
            return
        if self.node is not None:
            await self.node.apply_state_now()  # this console's node: no wait for its watch
        view = await read_trading_state(self.store, now_ns=self.clock())
        severity = "information" if in_force.state == "ACTIVE" else "warning"
        message = outcome_message(request, in_force, view.node_listening)
        # Gone as soon as a later change is in force (a re-arm from a shell): never stale.
        self.state_toasts.show(
            message, until_changed(in_force), title="Kill switch", severity=severity, timeout=15
        )
        if restore is not None and self.node is not None:
            if in_force.state == "ACTIVE":
                restored = self.node.restore_targets(restore, operator_name(), request.reason)
            else:
                restored = f"targets not restored: trading is {in_force.state}"
            self.notify(restored, title="Targets", timeout=15)

    # -- the command palette ------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Named "area: verb" with the words an operator types (flatten, rearm, compare...).
        # With nothing typed the palette lists these alphabetically and highlights the first:
        # quit is never listed that way (found only by typing), so ctrl+p then Enter is harmless.
        def kill(grade: str) -> Callable[[], None]:
            return partial(self.action_kill_switch, grade)

        yield SystemCommand(
            "risk: halt trading (kill switch)", "Cancel all orders, halt; then y", kill("halt")
        )
        yield SystemCommand(
            "risk: reduce only (kill switch)", "Only reducing orders pass; then y", kill("reduce")
        )
        yield SystemCommand(
            "risk: flatten all positions (kill switch)",
            "Cancel all, close positions, halt; then y",
            kill("flatten"),
        )
        yield SystemCommand(
            "risk: re-arm trading (rearm)", "Back to ACTIVE, with a reason", kill("rearm")
        )
        yield SystemCommand(
            "rebalance: preview and send",
            "The orders the targets need, to edit and send",
            self.action_rebalance,
        )
        yield SystemCommand(
            "backtest: launch a run", "Launch, follow and cancel backtests", self.action_backtests
        )
        yield SystemCommand(
            "backtest: compare runs",
            "The run list: space marks runs, = compares them, v compares with the shadow session",
            self.action_backtests,
        )
        yield SystemCommand(
            "help: keys of this screen", "The keys of this screen, and the node", self.action_help
        )
        if isinstance(screen, DashboardScreen):
            verb = "restore pane" if screen.maximized is not None else "maximise pane"
            yield SystemCommand(
                f"view: {verb}",
                "The focused pane fills the screen, or not",
                screen.action_toggle_maximise,
            )
            yield SystemCommand("view: next pane", "Focus the next pane", screen.action_next_pane)
            yield SystemCommand(
                "view: previous pane", "Focus the previous pane", screen.action_previous_pane
            )
        for theme in THEMES:
            yield SystemCommand(
                f"theme: {theme.name}",
                f"Switch to the {theme.name} theme (kept for the next start)",
                partial(self._use_theme, theme.name),
            )
        yield SystemCommand(
            "quit: leave the console",
            "With a node inside: stop it, detach, or stay",
            self.action_quit,
            discover=False,
        )

    def _use_theme(self, name: str) -> None:
        self.theme = name
        remember_theme(name)
