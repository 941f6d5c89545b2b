"""``NodeSession``: the node as the desk runs it, on the console's loop or headless.

One object puts the parts together, so the console and ``trade-console run`` start the same
thing:

- ``NautilusLiveEngine`` (``core.live.node``): the Nautilus ``TradingNode`` in SHADOW or LIVE;
- ``LiveRebalanceStrategy``: the backtest's rebalancer;
- ``OmsFeed`` with a ``DriftTracker``: every order, fill, position and balance into the OMS,
  every fill measured against its decision price and the market (``drift.log`` + OMS + alert);
- ``TargetWeightWatcher``: a valid target file is handed to the strategy at once; an invalid
  one becomes a risk alert and changes nothing. Each change of the targets in force (a file, a
  preview, a flatten's zeros, a restore) is a ``TargetsRecord`` in the OMS, so a re-arm after a
  flatten can offer back the targets it replaced (``restore_targets``, the file's path again);
- spec reconciliation at start: the desk's instruments file against the venue's instruments;
- orders earlier sessions left open settled at start (``core.live.orphans``): in SHADOW before
  the engine runs, in LIVE after Nautilus's reconciliation with the venue; a SHADOW node's own
  still open at a clean stop too;
- a heartbeat (``NodeStatus``) every ``node.heartbeat_secs``, and the kill switch's persisted
  state: a node started after a kill comes up HALTED, and a kill written to the OMS by a
  console (or ``trade-console kill``) reaches the node within one heartbeat;
- the OMS held for the node's life (``core.live.lease``): one node per OMS. ``create`` takes it
  before anything is built, so a node refused because another holds the OMS writes nothing:
  no row, no heartbeat, not a line of the other's node log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence

import msgspec
from nautilus_trader.model.enums import TradingState
from nautilus_trader.model.identifiers import ClientOrderId, Venue
from nautilus_trader.model.orders import Order

from core.config import AppConfig, drift_log_path
from core.data.instrument_specs import load_instrument_specs
from core.data.target_file import check_weights
from core.data.ticks import one_line
from core.errors import DataError, TradeConsoleError, bounded, task_part
from core.execution.algorithms.profile import load_profiles
from core.execution.algorithms.vwap import VwapExecAlgorithm
from core.execution.external.routes import ExternalRoutes
from core.execution.external.venues import ExternalVenues
from core.execution.oms_feed import OmsFeed, OmsFeedConfig
from core.execution.strategy import rebalance_strategy_config
from core.live.lease import NodeLease
from core.live.node import EngineState, NautilusLiveEngine
from core.live.orphans import (
    LIVE_START,
    SHADOW_START,
    SHADOW_STOP,
    NodeOrder,
    settle_orphans,
)
from core.live.pnl_tracker import PnlTracker
from core.live.reconciliation import reconcile, spec_alerts
from core.live.strategy import (
    LiveRebalanceStrategy,
    LiveRebalanceStrategyConfig,
    PreviewLine,
    denied_text,
)
from core.live.watcher import TargetsAccepted, TargetsRejected, TargetWeightWatcher, WatchOutcome
from core.monitor.loop_lag import LoopLag
from core.monitor.server import HealthServer
from core.notify.notifier import Notifier
from core.oms import OmsError, OmsStore
from core.oms.events import (
    AuditEntry,
    NodeStarted,
    Record,
    RiskAlert,
    TargetsRecord,
    TradingStateRecord,
)
from core.oms.state_origin import AUTO_PREFIX
from core.risk.drift import DriftTracker
from core.risk.equity_limits import EquityLimits
from core.risk.fat_finger import Confirmation, SizedOrder, confirmation_needed
from core.risk.trading_state import change_trading_state
from core.storage.probe import BucketProbe

_log = logging.getLogger(__name__)
_TIGHTNESS = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
STATE_POLL_SECS = 0.02
"""How often another process's trading-state change is looked for (this process's: at once)."""
FLATTEN_TIMEOUT_SECS = 10.0
"""How long a flatten waits for its closing orders before halting anyway (and saying so)."""
_STATES = {
    "ACTIVE": TradingState.ACTIVE,
    "REDUCING": TradingState.REDUCING,
    "HALTED": TradingState.HALTED,
}


class NodeSession:
    """Builds the node from ``config`` on the running loop; ``start`` / ``stop`` it.

    Parameters
    ----------
    config : AppConfig
        The desk's configuration (``node``, ``watcher``, ``drift``, ``strategy``, ``venues``).
    store : OmsStore
        The OMS the node writes (opened on the same loop).
    mode : str, optional
        ``shadow`` or ``live``, overriding ``node.mode``.
    confirm_live : bool
        The command line's ``--confirm-live``.
    now_ns : callable
        The wall clock (tests fix it for the watcher's age check).
    lease : NodeLease, optional
        The OMS already taken for this node (``create`` does it); the session lets go of it in
        ``stop``. Without one, ``start`` takes it, after the engine was built.

    Raises
    ------
    ConfigError, DataError
        From the engine: LIVE without confirmation, a missing API key, no data to replay.
    """

    def __init__(
        self,
        config: AppConfig,
        store: OmsStore,
        *,
        mode: str | None = None,
        confirm_live: bool = False,
        now_ns: Callable[[], int] = time.time_ns,
        lease: NodeLease | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._now_ns = now_ns
        self.lease = lease
        """The OMS held for this node; None until ``start`` takes it (without ``create``)."""
        self.notifier: Notifier | None = None
        """Sends the node's ERROR and CRITICAL alerts to ``[notify] urls`` (None: none set).
        Built first: a bad URL is refused before anything of the node exists."""
        if config.notify.urls:
            self.notifier = Notifier(
                config, store.path, store.submit, mode=(mode or config.node.mode).upper()
            )
        self.loop_lag: LoopLag | None = None
        """The event loop's lag, measured while the health endpoint is on."""
        self.health_server: HealthServer | None = None
        """``/healthz`` and ``/metrics`` on ``[health] listen`` (None: not set)."""
        if config.health.listen:
            self.loop_lag = LoopLag()
            self.health_server = HealthServer(
                config, store.path, writer_stats=lambda: store.stats, loop_lag=self.loop_lag
            )
        self._lag_task: asyncio.Task[None] | None = None
        self.bucket_probe: BucketProbe | None = None
        """Checks the results' bucket answers (None: no upload root, or ``probe_secs`` 0)."""
        if config.results.upload_root and config.uploads.probe_secs > 0:
            self.bucket_probe = BucketProbe(
                config.results.upload_root,
                config.uploads.probe_secs,
                config.uploads.timeout_secs,
            )
        loop = asyncio.get_running_loop()
        self.engine = NautilusLiveEngine(config, loop, mode=mode, confirm_live=confirm_live)
        self.strategy = LiveRebalanceStrategy(
            rebalance_strategy_config(
                config, self.engine.instrument_ids, LiveRebalanceStrategyConfig
            )
        )
        self.strategy.alert = store.submit
        drift_config = msgspec.structs.replace(config.drift, log=drift_log_path(config))
        self.drift = DriftTracker(drift_config)
        self.pnl: PnlTracker | None = None
        """The session's PnL, fed the fills the OMS records; None when nothing is recorded."""
        self.feed: OmsFeed | None = None
        """The actor copying the node's events into the OMS (None: ``record_to_oms`` off)."""
        if config.node.record_to_oms:
            store.submit(NodeStarted(ts_event=now_ns()))  # no backtest's trading beside ours
            feed_config = OmsFeedConfig(drift_threshold_bps=config.drift.threshold_bps)
            self.pnl = PnlTracker(self.strategy, config.strategy.valuation_currency, now_ns)
            self.feed = OmsFeed(feed_config, self._record, drift=self.drift)
            self.engine.add_actor(self.feed)
        self.engine.add_strategy(self.strategy)
        self.watcher = TargetWeightWatcher(
            config.watcher,
            self.engine.instrument_ids,
            self._on_targets,
            now_ns=now_ns,
            reading=config.targets,
        )
        self.pending: TargetsAccepted | None = None
        """A valid target file waiting for the operator's preview (``[risk] require_preview``)."""
        self.outcomes: list[WatchOutcome] = []
        """What the watcher reported, oldest first (the last 1,000)."""
        self._heartbeat: asyncio.Task[None] | None = None
        self._state_watch: asyncio.Task[None] | None = None
        self._trading_state = "ACTIVE"
        self._flattened: int | None = None
        """``ts_event`` of the flatten request already carried out (each is done once)."""
        self._flattening: asyncio.Task[None] | None = None
        self.limits = EquityLimits(config.risk)
        self.state_applied_ns: int | None = None
        """Wall clock when the latest trading state reached Nautilus (for the kill benchmark)."""
        self._held = False
        """A console's kill applied ahead of its OMS record (see ``hold``)."""
        self._oms_failing = False
        self._oms_full = False
        self._state_watch_error: str | None = None
        self._recording_halt: asyncio.Task[None] | None = None
        self._started = False
        self.external: ExternalVenues | None = (
            ExternalVenues.from_config(config, store, now_ns=now_ns)
            if config.external_venues
            else None
        )
        """The ``[[external_venues]]``, polled into the OMS; orders reach them through it."""
        self._external_kill: asyncio.Task[int] | None = None
        self.routes: ExternalRoutes | None = None
        """The external venues the router may use (routing on, ``[routing.venues.NAME]``)."""

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        config: AppConfig,
        store: OmsStore,
        *,
        mode: str | None = None,
        confirm_live: bool = False,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> NodeSession:
        """Take the OMS for a node (``NodeLease``), then build the session on it.

        The way to run a node: the OMS is taken before the engine is built, because building
        it already writes the node log and clears backtests' rows from the OMS.

        Raises
        ------
        NodeLeaseHeld
            Another node holds the OMS (one line naming it); nothing was built or written.
        ConfigError, DataError
            As the constructor; the OMS is let go again.
        """
        lease = await NodeLease.acquire(
            store, now_ns=now_ns, down_after_s=config.console.down_after_secs
        )
        try:
            return cls(
                config, store, mode=mode, confirm_live=confirm_live, now_ns=now_ns, lease=lease
            )
        except BaseException:
            await lease.release()
            raise

    async def start(self) -> EngineState:
        """Start the node, reconcile specs, apply the persisted trading state, watch targets.

        A node that cannot connect is still "started": it reports DEGRADED with the reason in
        its heartbeat (the Health pane and ``status`` show it), and targets are refused with an
        alert until it trades.

        Raises
        ------
        NodeLeaseHeld
            (A session built without ``create``) another node holds the OMS: the engine built
            is disposed, and no heartbeat is written over the other node's.
        """
        if self.lease is None:
            try:
                self.lease = await NodeLease.acquire(
                    self.store,
                    now_ns=self._now_ns,
                    down_after_s=self.config.console.down_after_secs,
                )
            except BaseException:
                await self.engine.stop()
                raise
        self._started = True
        try:
            if self.notifier is not None:  # first: an alert of the start itself is sent too
                self.notifier.start()
            if self.bucket_probe is not None:
                self.bucket_probe.start()
            if self.health_server is not None and self.loop_lag is not None:
                self.health_server.start()  # a port in use refuses the node before it trades
                self._lag_task = asyncio.get_running_loop().create_task(
                    self.loop_lag.measure(), name="node-loop-lag"
                )
            self._beat("STARTING")
            if self.external is not None:  # connected first: a persisted kill cancels there too
                await self.external.start()
                await self._route_external()
            await self._apply_persisted_state()
            await self._load_vwap_profiles()
            if self.engine.mode == "SHADOW":  # nothing of this session exists yet
                await self._settle_orphans("start", SHADOW_START)
            state = await self.engine.start()
            if state.node_state == "RUNNING":
                if self.pnl is not None:
                    self.pnl.start()  # the session's PnL counts from here
                self._reconcile()
                if self.engine.mode == "LIVE":  # after the venue's reconciliation
                    await self._settle_orphans("start", LIVE_START)
            else:
                detail = state.detail or "the node did not start"
                self._alert("ERROR", "node_not_connected", detail)
            await self.watcher.start()
            loop = asyncio.get_running_loop()
            self._heartbeat = loop.create_task(self._beat_forever(), name="node-heartbeat")
            # A kill written to the OMS (this console's k, or `trade-console kill` from another
            # shell) reaches the node within one poll, not one heartbeat.
            self._state_watch = loop.create_task(self._watch_state(), name="node-state-watch")
        except BaseException:
            await self.stop()  # a half-started node is stopped, never left running
            raise
        return self.engine.state()

    async def stop(self) -> None:
        """Stop watching, stop the node (never ``node.dispose()``), write the last heartbeat,
        then let go of the OMS."""
        if not self._started:
            await self._release()  # created, never started
            return
        self._started = False
        if self.routes is not None:
            await self.strategy.orchestrator.drain()
            await self.routes.stop()
        if self.external is not None:
            if self._external_kill is not None:  # a kill's cancels finish before the sessions go
                with contextlib.suppress(Exception):
                    await self._external_kill
            await self.external.stop()
        tasks = (
            self._heartbeat,
            self._state_watch,
            self._flattening,
            self._lag_task,
            self._recording_halt,  # an OMS still away at the stop: the halt stays in its queue
        )
        for task in tasks:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            await self.watcher.stop()
        except Exception as error:  # the watcher's failure must not keep the node running
            _log.error("target watcher failed: %s", one_line(error))
        try:
            await self.engine.stop()
        finally:
            if self.engine.mode == "SHADOW":  # its sandbox goes with it: so do its orders
                await self._settle_orphans("stop", SHADOW_STOP)
            self._beat("STOPPED")
            try:
                await self.store.flush()
                if self.notifier is not None:  # reads what was just flushed, sends it
                    await asyncio.to_thread(self.notifier.stop)
                if self.health_server is not None:
                    await asyncio.to_thread(self.health_server.stop)
                if self.bucket_probe is not None:
                    self.bucket_probe.stop()
            finally:
                await self._release()

    async def _release(self) -> None:
        if self.lease is None:
            return
        try:
            await self.lease.release()
        except Exception as error:  # the lock is dropped; only the OMS row may be left
            _log.error("cannot record that the node let go of the OMS: %s", one_line(error))

    async def _load_vwap_profiles(self) -> None:
        # The VWAP's volume profiles read days of trade files: built in a worker thread before
        # the strategy starts, never on the loop by the first parent.
        execution = self.config.execution
        if execution.algorithm != "vwap":
            return
        vwap = next(
            (a for a in self.engine.exec_algorithms if isinstance(a, VwapExecAlgorithm)), None
        )
        if vwap is None:
            return
        profiles = await asyncio.to_thread(
            load_profiles,
            self.config.data.root,
            self.engine.instrument_ids,
            self._spec_day(),
            execution.vwap_lookback_days,
            execution.vwap_bucket_secs,
        )
        vwap.use_profiles(profiles)

    async def _route_external(self) -> None:
        # With routing on, the external venues priced in [routing.venues] join the router: their
        # instruments and public market data are read before the strategy trades.
        if self.external is None or not self.config.routing.enabled:
            return
        orchestrator = self.strategy.orchestrator
        routes = ExternalRoutes(
            self.external,
            self.config.routing,
            orchestrator.tracker,
            self.config.strategy.valuation_currency,
        )
        if not routes.routable:
            return
        await routes.start()
        orchestrator.attach_external(routes)
        self.routes = routes

    # -- targets ------------------------------------------------------------------------------

    def _on_targets(self, outcome: WatchOutcome) -> None:
        self.outcomes.append(outcome)
        del self.outcomes[:-1000]
        if isinstance(outcome, TargetsRejected):
            self._alert("WARNING", "target_file", outcome.reason)
            return
        assert isinstance(outcome, TargetsAccepted)
        self._trade_targets(
            outcome,
            "file",
            f"targets-{outcome.sha256[:12]}",
            outcome.strategy_id or "research",
        )

    def _trade_targets(
        self, targets: TargetsAccepted, source: str, operation_id: str, actor: str
    ) -> str:
        # The one path accepted targets take, a research file's or an operator's restore: kept
        # untraded while the node cannot trade or is HALTED, held for the preview when one is
        # required, else traded and recorded in force. Returns what happened, in one line.
        state = self.engine.state()
        as_of = targets.as_of.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        what = "restored targets" if source == "restore" else "targets"
        if state.node_state != "RUNNING":
            message = (
                f"{what} as of {as_of} kept, not traded: node {state.node_state} "
                f"({state.detail or 'not running'})"
            )
            self._alert("WARNING", "target_file", message)
            return message
        if self._trading_state == "HALTED":
            message = f"{what} as of {as_of} kept, not traded: HALTED"
            self._alert("WARNING", "target_file", message)
            return message
        if self.preview_required:
            self.pending = targets
            message = f"{what} as of {as_of} wait for the operator's preview (r in the console)"
            self._alert("INFO", "targets_pending", message)
            return message
        applied = self.strategy.apply_file(targets.targets, operation_id, targets.detected_ns)
        self._record_targets(source, operation_id, actor, targets.as_of_ns)
        skipped = [line for line in applied.lines if line.side is None and line.skip]
        note = f", {len(skipped)} skipped" if skipped else ""
        message = f"{what} as of {as_of}: {applied.orders} orders{note}"
        self._alert("INFO", "targets_applied", message)
        return message

    def restore_targets(self, record: TargetsRecord, actor: str, reason: str) -> str:
        """Put ``record``'s targets back in force (those a flatten replaced), as a research file
        is applied: not while HALTED or the node does not trade, held for the preview when one
        is required. Audited as ``restore_targets``; returns what happened, in one line."""
        now = self._now_ns()
        as_of_ns = record.ts_event if record.as_of is None else record.as_of
        digest = hashlib.sha256(msgspec.json.encode(sorted(record.weights.items()))).hexdigest()
        targets = TargetsAccepted(
            targets=dict(record.weights),
            as_of=dt.datetime.fromtimestamp(as_of_ns / 1e9, dt.UTC),
            strategy_id=None,
            sha256=digest,
            detected_ns=now,
            read_ns=now,
        )
        message = self._trade_targets(targets, "restore", f"restore-{now}", actor)
        details = {"weights": record.weights, "restored_from": record.ts_event, "outcome": message}
        self.store.submit(AuditEntry.now(actor, "restore_targets", reason, details))
        return message

    def _record_targets(
        self, source: str, operation_id: str, actor: str, as_of: int | None = None
    ) -> None:
        # The targets in force after the change, all of them: a flatten's record says 0 for
        # every instrument, and the record before it what a re-arm may restore.
        self.store.submit(
            TargetsRecord(
                ts_event=self._now_ns(),
                source=source,
                weights=dict(self.strategy.targets),
                operation_id=operation_id,
                actor=actor,
                as_of=as_of,
            )
        )

    # -- manual rebalance ----------------------------------------------------------------------

    @property
    def preview_required(self) -> bool:
        """Whether a new target file waits for the operator (``auto``: in LIVE only)."""
        required = self.config.risk.require_preview
        return required == "always" or (required == "auto" and self.engine.mode == "LIVE")

    @property
    def trading_state(self) -> str:
        """The trading state the node applies now."""
        return self._trading_state

    def preview(self, weights: Mapping[str, float] | None = None) -> list[PreviewLine]:
        """The rebalance to the pending targets (else those in force), changed by ``weights``."""
        return self.strategy.preview(self._with_pending(weights))

    def check_targets(self, weights: Mapping[str, float]) -> None:
        """Check the targets the preview would head to with ``weights`` (fractions) by the
        target file's rules (``check_weights``, ``[watcher]``), said in percent.

        Raises
        ------
        DataError
            One line, e.g. ``BTCUSDT.BINANCE: 2500% is outside [-100%, 100%]
            (watcher.min_weight, watcher.max_weight)``.
        """
        targets = self.strategy.preview_targets(self._with_pending(weights))
        check_weights(targets, self.config.watcher, self.engine.instrument_ids, as_percent=True)

    def confirmation_needed(self, lines: Sequence[PreviewLine]) -> Confirmation | None:
        """What sending ``lines`` must be confirmed with, typed (``[risk]
        confirm_above_pct_equity``, ``confirm_turnover_pct_equity``), or None."""
        strategy = self.strategy
        orders = [
            SizedOrder(
                line.instrument_id,
                line.side,
                line.quantity,
                line.notional,
                strategy.base_currency(line.instrument_id),
            )
            for line in (p.line for p in lines)
            if line.side is not None
        ]
        return confirmation_needed(
            orders, strategy.equity(), self.config.risk, self.config.strategy.valuation_currency
        )

    def send_preview(
        self,
        lines: Sequence[PreviewLine],
        actor: str,
        reason: str,
        *,
        confirmation: str | None = None,
    ) -> int:
        """Send the operator's selection of a preview, exactly; audited; its targets become the
        targets in force. ``confirmation`` is what the operator typed for the fat-finger guard.

        Raises
        ------
        TradeConsoleError
            One line, nothing sent: trading HALTED, the node not trading, a line the risk
            checks deny, a target the target file's rules refuse, or a large send without its
            confirmation (see ``confirmation_needed``).
        """
        if self._trading_state == "HALTED":
            raise TradeConsoleError("rebalance refused: trading is HALTED (re-arm first)")
        state = self.engine.state()
        if state.node_state != "RUNNING" or not self.strategy.is_running:
            raise TradeConsoleError(f"rebalance refused: the node is {state.node_state}")
        denied = [p for p in lines if p.line.side and not p.allowed]
        if denied:
            raise TradeConsoleError(
                f"rebalance refused: denied by the risk checks: {denied_text(denied)}"
            )
        sent_targets = {p.line.instrument_id: p.line.target_weight for p in lines}
        try:
            self.check_targets(sent_targets)
        except DataError as error:
            raise TradeConsoleError(f"rebalance refused: {error}") from None
        asked = self.confirmation_needed(lines)
        if asked is not None and not asked.confirmed_by(confirmation):
            typed = "nothing" if not confirmation else f"'{confirmation.strip()}'"
            raise TradeConsoleError(
                f"rebalance refused: {asked.order_text} needs {asked.word} typed to send "
                f"({typed} was typed)"
            )
        now = self._now_ns()
        sent = self.strategy.send_preview(lines, f"manual-{now}")
        self._record_targets("preview", f"manual-{now}", actor)
        orders = [
            {
                "instrument_id": p.line.instrument_id,
                "side": p.line.side,
                "quantity": p.line.quantity,
            }
            for p in lines
            if p.line.side is not None
        ]
        details: dict[str, object] = {"orders": orders}
        if asked is not None:
            details["confirmed"] = {"rule": asked.rule, "order": asked.order_text}
        self.store.submit(AuditEntry.now(actor, "rebalance", reason, details))
        self.pending = None
        return sent

    def _with_pending(self, weights: Mapping[str, float] | None) -> dict[str, float]:
        base = dict(self.pending.targets) if self.pending is not None else {}
        return {**base, **(weights or {})}

    # -- start-up checks ----------------------------------------------------------------------

    def _reconcile(self) -> None:
        root = self.config.node.specs_root or self.config.data.instruments
        day = self._spec_day()
        try:
            specs = load_instrument_specs(root, day)
        except TradeConsoleError as error:
            self._alert("WARNING", "spec_reconciliation", f"specs not checked: {error}")
            return
        wanted = set(self.engine.instrument_ids)
        specs = {key: spec for key, spec in specs.items() if key in wanted}
        cache = self.engine.node.kernel.cache
        venues = set(self.engine.venues)
        instruments = [i for v in venues for i in cache.instruments(venue=Venue(v))]
        findings = reconcile(specs, instruments, venues=venues)
        for alert in spec_alerts(findings, self._now_ns()):
            self.store.submit(alert)

    async def _settle_orphans(self, when: str, reason: str) -> None:
        # Orders no session manages any more (core.live.orphans). In LIVE the cache holds what
        # the venue's reconciliation reported; in SHADOW nothing outlives the sandbox, whatever
        # the cache of a stopping node still holds.
        if not self.config.node.record_to_oms:
            return
        cache = self.engine.node.kernel.cache

        def cached(order_id: str) -> NodeOrder | None:
            if self.engine.mode != "LIVE":
                return None
            return node_order(cache.order(ClientOrderId(order_id)))

        try:
            await settle_orphans(
                self.store,
                self.engine.venues,
                reason=reason,
                when=when,
                mode=self.engine.mode,
                cached=cached,
                now_ns=self._now_ns,
            )
        except TradeConsoleError as error:  # the counts stay as they were; the node goes on
            _log.error("cannot settle the orders earlier sessions left open: %s", one_line(error))

    def _spec_day(self) -> dt.date:
        # The day being traded: the replay's recorded day, or today at a venue.
        replay = self.engine.replay
        if replay is not None:
            progress = replay.progress()
            recorded = progress.start_ns if progress.replay_ns is None else progress.replay_ns
            return dt.datetime.fromtimestamp(recorded / 1e9, dt.UTC).date()
        return dt.datetime.now(dt.UTC).date()

    # -- trading state and heartbeat ----------------------------------------------------------

    async def _watch_state(self) -> None:
        # How a kill typed in another console or shell reaches this node: it must outlive the
        # OMS being unreadable for a while (its server restarting). It then takes up from the
        # last version it saw, and applies the state in force at once (a kill made meanwhile).
        since: int | None = None
        delay = 0.5
        while True:
            try:
                if since is None:
                    since = await self.store.version()
                async for changes in self.store.watch(since=since, interval=STATE_POLL_SECS):
                    since = changes.version
                    self._state_watch_error = None
                    delay = 0.5
                    if "trading_state" in changes.tables:
                        try:
                            await self._apply_persisted_state()
                        except Exception as error:  # a bad read must not end the watch
                            _log.error("cannot apply the trading state: %s", one_line(error))
            except OmsError as error:
                if self._state_watch_error is None:
                    _log.error("the trading-state watch cannot read the OMS: %s", one_line(error))
                self._state_watch_error = one_line(error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def hold(self, state: str, origin: TradingStateRecord | None = None) -> None:
        """Apply a kill (REDUCING or HALTED) at once, before its OMS record is written.

        The console's key must stop trading within milliseconds, and the OMS write can queue
        behind the panes' reads. Only a tightening applies (ACTIVE -> REDUCING -> HALTED), and
        it holds: the state read from the OMS is ignored until ``apply_state_now``, which the
        console calls once the change is recorded; if recording fails, the node stays held.
        ``origin``: the change as it will be recorded, for the alert's who and why.
        """
        if _TIGHTNESS.get(state, 0) <= _TIGHTNESS[self._trading_state]:
            return
        self._held = True
        self._set_state(state, origin)

    async def apply_state_now(self) -> None:
        """Apply the trading state in force in the OMS at once, without waiting for the watch
        (and release a ``hold``): the console calls it right after its own change commits."""
        self._held = False
        await self._apply_persisted_state()

    async def _apply_persisted_state(self) -> None:
        if self._held:
            return  # a console's kill, not yet recorded, stays in force
        record = await self.store.trading_state()
        if record is None:
            self._set_state("ACTIVE")
            return
        flatten = record.state == "HALTED" and record.flatten
        if flatten and self._flattened != record.ts_event and self.strategy.is_running:
            self._flattened = record.ts_event
            # Closing orders must pass: REDUCING until flat, then HALTED.
            self._set_state("REDUCING", record)
            self.strategy.cancel_all_orders_everywhere()
            self._flattening = asyncio.get_running_loop().create_task(
                self._flatten_then_halt(record), name="node-flatten"
            )
            return
        if flatten and self._flattening is not None and not self._flattening.done():
            return  # the flatten in progress ends HALTED
        self._set_state(record.state, record)

    def _set_state(self, state: str, origin: TradingStateRecord | None = None) -> None:
        if state == self._trading_state:
            return
        self._trading_state = state
        self.strategy.trading_state = state
        if self.feed is not None:  # the alert the change raises says who made it
            self.feed.state_origin = origin
        self.engine.node.kernel.risk_engine.set_trading_state(_STATES[state])
        if state == "HALTED" and self.strategy.is_running:
            # A kill: nothing may stay working at the venue.
            self.strategy.cancel_all_orders_everywhere()
        if self.external is not None:
            self.external.trading_state = state
        if state == "HALTED" and self.external is not None:
            # The external venues' orders are cancelled too (their failures become alerts).
            self._external_kill = asyncio.get_running_loop().create_task(
                self.external.cancel_all_open("kill: HALTED"), name="external-kill"
            )
        self.state_applied_ns = time.time_ns()

    async def _flatten_then_halt(self, record: TradingStateRecord) -> None:
        requested_ns, actor = record.ts_event, record.actor
        strategy = self.strategy
        try:
            lines = strategy.flatten(f"flatten-{requested_ns}")
            self._record_targets("flatten", f"flatten-{requested_ns}", actor)
            deadline = asyncio.get_running_loop().time() + FLATTEN_TIMEOUT_SECS
            while asyncio.get_running_loop().time() < deadline:
                if not strategy.cache.orders_open() and all(
                    order.is_closed for order in strategy.cache.orders()
                ):
                    break
                await asyncio.sleep(0.02)
            left = [line.instrument_id for line in strategy.plan() if line.side is not None]
            closing = sum(1 for line in lines if line.side is not None)
            note = f"; still holding {', '.join(left)}" if left else ", flat"
            self._alert("WARNING", "flatten", f"flatten: {closing} closing orders sent{note}")
        finally:
            self._set_state("HALTED", record)

    async def _beat_forever(self) -> None:
        # The beat itself never waits on the OMS: a read that hangs (a server restarting, a
        # cut network, up to the connection's timeouts) would silence the heartbeat, which the
        # notifier and the consoles judge the node by. The state is read beside it.
        interval = self.config.node.heartbeat_secs
        reading: asyncio.Task[None] | None = None
        while True:
            await asyncio.sleep(interval)
            self._watch_oms_writer()
            if reading is None or reading.done():
                reading = asyncio.get_running_loop().create_task(
                    self._read_state_and_limits(), name="node-state-read"
                )
            self._beat()

    async def _read_state_and_limits(self) -> None:
        try:
            await self._apply_persisted_state()
            await self._check_equity_limits()
        except Exception as error:  # a bad read must not stop the next ones
            _log.error("cannot read the trading state: %s", one_line(error))

    def _watch_oms_writer(self) -> None:
        """While the OMS cannot be written (its server restarting, its disk full) the writer
        keeps every record in memory and retries: one ERROR alert says so (written, with the
        rest, once the OMS is back; the channels hear it at once from the heartbeat's OMS
        writer part). At ``[oms] buffer_records`` kept: a CRITICAL alert, and trading halts
        in this process at once, recorded in the OMS in order with the rest."""
        stats = self.store.stats
        failing = stats.last_error is not None and stats.pending > 0
        if failing and not self._oms_failing:
            self._alert(
                "ERROR",
                "oms_unreachable",
                f"the OMS cannot be written: {stats.pending} records kept in memory and "
                f"retried ({bounded(stats.last_error or '', 200)})",
            )
        elif not failing and self._oms_failing:
            _log.warning("the OMS is written again (%d records pending)", stats.pending)
        self._oms_failing = failing
        bound = self.config.oms.buffer_records
        if stats.pending >= bound and not self._oms_full:
            self._oms_full = True
            self._halt_unrecorded(bound)
        elif stats.pending < bound // 2:
            self._oms_full = False

    def _halt_unrecorded(self, bound: int) -> None:
        message = (
            f"{bound} OMS records kept in memory: the OMS has been unreachable too long; "
            "trading HALTED until it is back and an operator re-arms"
        )
        self._alert("CRITICAL", "oms_buffer_full", message)
        record = TradingStateRecord(
            ts_event=self._now_ns(),
            state="HALTED",
            actor=f"{AUTO_PREFIX}oms_buffer_full",
            reason=message,
            source="auto",
            host=socket.gethostname(),
        )
        self.hold("HALTED", record)
        self.store.submit(record)
        self._recording_halt = asyncio.get_running_loop().create_task(
            self._release_once_recorded(), name="node-oms-halt"
        )

    async def _release_once_recorded(self) -> None:
        # The halt holds in this process until the OMS has it; then the OMS's state rules
        # again (HALTED, until an operator re-arms from any console).
        while True:
            try:
                await self.store.flush()
                break
            except OmsError:
                await asyncio.sleep(1.0)
        await self.apply_state_now()

    async def _check_equity_limits(self) -> None:
        if not self.strategy.is_running or self._trading_state == "HALTED":
            return
        tripped = self.limits.observe(self.strategy.equity(), self._now_ns())
        if tripped is None or self._trading_state == self.limits.action:
            return
        rule, message = tripped
        self._alert("CRITICAL", rule, f"{message}: trading {self.limits.action}")
        await change_trading_state(
            self.store,
            self.limits.action,
            f"{AUTO_PREFIX}{rule}",
            message,
            now_ns=self._now_ns(),
            source="auto",
        )
        await self._apply_persisted_state()

    def _beat(self, phase: str | None = None) -> None:
        state = self.engine.state()
        equity = self.strategy.equity() if self.strategy.is_running else None
        status = state.to_node_status(self._now_ns(), equity)
        if phase is not None:
            status = msgspec.structs.replace(status, node_state=phase)
        if self.external is not None:
            problems = "; ".join(self.external.problems().values())
            status = msgspec.structs.replace(
                status,
                venues=status.venues + self.external.names,
                detail="; ".join(part for part in (status.detail, problems) if part),
            )
        if phase is None:  # STARTING and STOPPED: the parts are not running, by design
            status = msgspec.structs.replace(status, parts=self.parts())
        self.store.submit(status)
        if self.notifier is not None:
            self.notifier.observe(status)
        if self.pnl is not None and self.strategy.is_running:
            snapshot = self.pnl.snapshot()
            if snapshot is not None:
                self.store.submit(snapshot)

    def _record(self, record: Record) -> None:
        # Every record of the node's OMS feed: its fills also move the PnL.
        self.store.submit(record)
        if self.pnl is not None:
            self.pnl.on_record(record)

    def parts(self) -> tuple[tuple[str, str, str], ...]:
        """Each part of the running node as it reports itself: (name, OK|WARN|DOWN, detail).

        The heartbeat carries them, so a part that died is seen as DOWN in every console and
        in ``status`` while the node beats on: the target watcher, the trading-state watch,
        each external venue's poller, the notification channels, the results' bucket, and the
        OMS writer.
        """
        state_watch = task_part("state watch", self._state_watch)
        if state_watch[1] == "OK" and self._state_watch_error is not None:
            state_watch = ("state watch", "WARN", f"retrying: {self._state_watch_error}"[:300])
        parts = [*self.watcher.parts(), state_watch]
        if self.external is not None:
            parts.extend(self.external.poller.parts())
        if self.notifier is not None:
            parts.extend(self.notifier.parts())
        if self.bucket_probe is not None:
            parts.append(self.bucket_probe.part())
        if self.lease is not None and (lock := self.lease.part()) is not None:
            parts.append(lock)
        stats = self.store.stats
        if stats.last_error is not None:
            kept = f"{stats.pending} records kept; " if stats.pending else ""
            parts.append(("OMS writer", "WARN", f"{kept}{stats.last_error}"[:300]))
        else:
            parts.append(("OMS writer", "OK", f"{stats.pending} pending"))
        return tuple(parts)

    def _alert(self, severity: str, rule: str, message: str) -> None:
        now = self._now_ns()
        self.store.submit(
            RiskAlert(
                alert_id=f"node:{rule}:{now}",
                ts_event=now,
                severity=severity,
                rule=rule,
                message=message,
            )
        )


def node_order(order: Order | None) -> NodeOrder | None:
    """``order`` as ``core.live.orphans`` judges it (None: not in the node's cache)."""
    if order is None:
        return None
    filled = float(order.filled_qty)
    return NodeOrder(order.status_string(), filled, float(order.avg_px) if filled > 0 else None)
