"""``NodeSession``: the node as the desk runs it, on the console's loop or headless.

One object puts the parts together, so the console and ``trade-console run`` start the same
thing:

- ``NautilusLiveEngine`` (``core.live_node``): the Nautilus ``TradingNode`` in SHADOW or LIVE;
- ``LiveRebalanceStrategy``: the backtest's rebalancer;
- ``OmsFeed`` with a ``DriftTracker``: every order, fill, position and balance into the OMS,
  every fill measured against its decision price and the market (``drift.log`` + OMS + alert);
- ``TargetWeightWatcher``: a valid target file is handed to the strategy at once; an invalid
  one becomes a risk alert and changes nothing;
- spec reconciliation at start: the desk's instruments file against the venue's instruments;
- a heartbeat (``NodeStatus``) every ``node.heartbeat_secs``, and the kill switch's persisted
  state: a node started after a kill comes up HALTED, and a kill written to the OMS by a
  console (or ``trade-console kill``) reaches the node within one heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable

import msgspec
from nautilus_trader.model.enums import TradingState
from nautilus_trader.model.identifiers import Venue

from core.config import AppConfig, drift_log_path
from core.drift import DriftTracker
from core.errors import TradeConsoleError
from core.instrument_specs import load_instrument_specs
from core.live_node import EngineState, NautilusLiveEngine
from core.live_strategy import LiveRebalanceStrategy, LiveRebalanceStrategyConfig
from core.oms import OmsStore
from core.oms.events import RiskAlert
from core.oms.nautilus_feed import OmsFeed, OmsFeedConfig
from core.reconciliation import reconcile, spec_alerts
from core.ticks import one_line
from core.watcher import TargetsAccepted, TargetsRejected, TargetWeightWatcher, WatchOutcome

_log = logging.getLogger(__name__)
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
    ) -> None:
        self.config = config
        self.store = store
        self._now_ns = now_ns
        loop = asyncio.get_running_loop()
        self.engine = NautilusLiveEngine(config, loop, mode=mode, confirm_live=confirm_live)
        strategy = config.strategy
        self.strategy = LiveRebalanceStrategy(
            LiveRebalanceStrategyConfig(
                strategy_id=strategy.strategy_id,
                instrument_ids=self.engine.instrument_ids,
                valuation_currency=strategy.valuation_currency,
                min_trade_notional=strategy.min_trade_notional,
                weight_tolerance=strategy.weight_tolerance,
                cash_buffer=strategy.cash_buffer,
            )
        )
        self.strategy.alert = store.submit
        drift_config = msgspec.structs.replace(config.drift, log=drift_log_path(config))
        self.drift = DriftTracker(drift_config)
        if config.node.record_to_oms:
            feed_config = OmsFeedConfig(drift_threshold_bps=config.drift.threshold_bps)
            self.engine.add_actor(OmsFeed(feed_config, store.submit, drift=self.drift))
        self.engine.add_strategy(self.strategy)
        self.watcher = TargetWeightWatcher(
            config.watcher, self.engine.instrument_ids, self._on_targets, now_ns=now_ns
        )
        self.outcomes: list[WatchOutcome] = []
        """What the watcher reported, oldest first (the last 1,000)."""
        self._heartbeat: asyncio.Task[None] | None = None
        self._trading_state = "ACTIVE"
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> EngineState:
        """Start the node, reconcile specs, apply the persisted trading state, watch targets.

        A node that cannot connect is still "started": it reports DEGRADED with the reason in
        its heartbeat (the Health pane and ``status`` show it), and targets are refused with an
        alert until it trades.
        """
        self._started = True
        try:
            self._beat("STARTING")
            await self._apply_persisted_state()
            state = await self.engine.start()
            if state.node_state == "RUNNING":
                self._reconcile()
            else:
                detail = state.detail or "the node did not start"
                self._alert("ERROR", "node_not_connected", detail)
            await self.watcher.start()
            self._heartbeat = asyncio.get_running_loop().create_task(
                self._beat_forever(), name="node-heartbeat"
            )
        except BaseException:
            await self.stop()  # a half-started node is stopped, never left running
            raise
        return self.engine.state()

    async def stop(self) -> None:
        """Stop watching, stop the node (never ``node.dispose()``), write the last heartbeat."""
        if not self._started:
            return
        self._started = False
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        try:
            await self.watcher.stop()
        except Exception as error:  # the watcher's failure must not keep the node running
            _log.error("target watcher failed: %s", one_line(error))
        try:
            await self.engine.stop()
        finally:
            self._beat("STOPPED")
            await self.store.flush()

    # -- targets ------------------------------------------------------------------------------

    def _on_targets(self, outcome: WatchOutcome) -> None:
        self.outcomes.append(outcome)
        del self.outcomes[:-1000]
        if isinstance(outcome, TargetsRejected):
            self._alert("WARNING", "target_file", outcome.reason)
            return
        assert isinstance(outcome, TargetsAccepted)
        state = self.engine.state()
        as_of = outcome.as_of.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if state.node_state != "RUNNING":
            self._alert(
                "WARNING",
                "target_file",
                f"targets as of {as_of} kept, not traded: node {state.node_state} "
                f"({state.detail or 'not running'})",
            )
            return
        if self._trading_state == "HALTED":
            self._alert("WARNING", "target_file", f"targets as of {as_of} kept, not traded: HALTED")
            return
        applied = self.strategy.apply_file(
            outcome.targets, f"targets-{outcome.sha256[:12]}", outcome.detected_ns
        )
        skipped = [line for line in applied.lines if line.side is None and line.skip]
        note = f", {len(skipped)} skipped" if skipped else ""
        self._alert(
            "INFO",
            "targets_applied",
            f"targets as of {as_of}: {applied.orders} orders{note}",
        )

    # -- start-up checks ----------------------------------------------------------------------

    def _reconcile(self) -> None:
        root = self.config.node.specs_root or self.config.data.root
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

    def _spec_day(self) -> dt.date:
        # The day being traded: the replay's recorded day, or today at a venue.
        replay = self.engine.replay
        if replay is not None:
            progress = replay.progress()
            recorded = progress.start_ns if progress.replay_ns is None else progress.replay_ns
            return dt.datetime.fromtimestamp(recorded / 1e9, dt.UTC).date()
        return dt.datetime.now(dt.UTC).date()

    # -- trading state and heartbeat ----------------------------------------------------------

    async def _apply_persisted_state(self) -> None:
        record = await self.store.trading_state()
        state = "ACTIVE" if record is None else record.state
        if state != self._trading_state:
            self._trading_state = state
            self.engine.node.kernel.risk_engine.set_trading_state(_STATES[state])
            if state == "HALTED" and self.strategy.is_running:
                # A kill: nothing may stay working at the venue.
                self.strategy.cancel_all_orders_everywhere()

    async def _beat_forever(self) -> None:
        interval = self.config.node.heartbeat_secs
        while True:
            await asyncio.sleep(interval)
            try:
                await self._apply_persisted_state()
            except Exception as error:  # a bad read must not stop the heartbeat
                _log.error("cannot read the trading state: %s", one_line(error))
            self._beat()

    def _beat(self, phase: str | None = None) -> None:
        state = self.engine.state()
        equity = self.strategy.equity() if self.strategy.is_running else None
        status = state.to_node_status(self._now_ns(), equity)
        if phase is not None:
            status = msgspec.structs.replace(status, node_state=phase)
        self.store.submit(status)

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
