"""``NautilusLiveEngine``: a Nautilus ``TradingNode`` run on someone else's event loop.

The console (and the headless ``run`` command) own the event loop; the node is a guest on it.
What that takes, from what we measured (``nautilus-notes.md``):

- **Start**: ``TradingNode(config, loop=loop)``, factories, ``build()``, then
  ``create_task(node.run_async())``. ``start()`` waits until every client is connected and the
  trader runs, or ``node.start_timeout_secs``; a venue that cannot connect leaves the kernel
  "running" with the trader stopped, and ``start()`` then reports NOT CONNECTED (``state()``)
  instead of pretending. A replay whose data root is bad fails at once with its one-line
  reason.
- **Stop**: ``await node.stop_async()`` then ``node.kernel.dispose()``. Never
  ``node.dispose()``: it cancels every task on the loop and stops the loop.
- **The loop stays the caller's.** Building the kernel on a given loop installs SIGINT,
  SIGTERM and SIGABRT handlers that stop the node (SIGINT's Python handler reset to the
  default first), replaces the loop's default executor and sets its debug flag. The engine
  puts all of that back right after building: Python-level handlers (``signal.signal``,
  including ``asyncio.run``'s SIGINT handler) and, on asyncio's own loops, handlers added with
  ``loop.add_signal_handler``. uvloop cannot list its handlers: on a uvloop loop, add yours
  after constructing the engine. The node then never reacts to a signal itself; the caller
  decides (the headless command stops it on SIGTERM with ``await engine.stop()``).
- **Logs** go to ``{logging.directory}/{log_file_name}.log`` only (stdout level OFF). Nautilus's
  Rust logger still writes ERROR lines straight to file descriptor 2, and logging is set up
  once per process (a later engine's logging config is ignored). The engine does not touch
  fds 1/2 itself (they are the process's, and Textual draws on fd 2): run it under
  ``core.fd_capture.redirect_std_fds``, or point fd 2 elsewhere, wherever a terminal matters.
  The logger's thread writes the file through an 8 KB buffer that it empties only when full or
  when asked: nothing else asks on a live node, so the file lagged up to 8 KB behind (a quiet
  node's fills stayed out of it for good) and the stop lines were lost with the process, which
  leaves with ``os._exit``. The engine asks every ``LOG_FLUSH_SECS`` while it runs and waits
  for the file once the node is stopped (``sync_logger_to_disk``).
- **Fills** in SHADOW come from the desk's sandbox (``core.live.venues``), which fills as the
  backtest venue does, with the same fill model (``core.fills``; by default only from trades
  printed after an order arrives, each printed size once). It stops filling when the node
  starts to stop. Its latency is the venue's ``latency_ms`` in recorded
  time: ``latency_ms / speed`` of live time on a paced replay, none flat out (an order then
  meets the last trade replayed), ``latency_ms`` on venue data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.component import flush_logger, sync_logger_to_disk
from nautilus_trader.config import (
    LiveDataEngineConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import trading_state_to_str
from nautilus_trader.model.identifiers import ClientId, InstrumentId
from nautilus_trader.trading.strategy import Strategy

from core.backtest.inputs import data_window
from core.backtest.nautilus_setup import logging_config
from core.config import AppConfig, VenueConfig
from core.data.instrument_specs import load_instrument_specs
from core.data.ticks import one_line, to_ns
from core.errors import ConfigError
from core.execution.algorithms.choice import register_exec_algorithms
from core.live.replay_client import (
    REPLAY_CLIENT_NAME,
    ReplayDataClient,
    ReplayDataClientConfig,
    ReplayDataClientFactory,
    ReplayProgress,
    check_replay_config,
)
from core.live.venues import (
    ClientSpec,
    DeskSandboxExecClientConfig,
    DeskSandboxExecutionClient,
    add_sandbox,
    route_order_events_inline,
    sandbox_exec_config,
    venue_data_client,
    venue_exec_client,
)
from core.oms.events import NodeStatus

LOG_FILE_NAME = "trade-console-node"
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)
_POLL_S = 0.02
LOG_FLUSH_SECS = 1.0
"""How often a running node's log file is brought up to date (the logger buffers 8 KB)."""
# Residual events (cancel acks) are awaited this long after the trader stops: the sandbox
# answers at once; a venue needs longer.
_POST_STOP_S = {"shadow": 0.2, "live": 2.0}
_UNKNOWN = object()


@dataclass(frozen=True)
class EngineState:
    """A snapshot of the node, mapped onto the OMS's ``NodeStatus`` vocabulary."""

    mode: str
    """LIVE or SHADOW."""
    source: str
    """replay or venue."""
    venues: tuple[str, ...]
    node_state: str
    """STARTING, RUNNING, STOPPING, STOPPED or DEGRADED (kernel up, trader or a client not)."""
    kernel_running: bool
    trader_running: bool
    data_clients: Mapping[str, bool] = field(default_factory=dict)
    """Each data client's id and whether it is connected."""
    exec_clients: Mapping[str, bool] = field(default_factory=dict)
    trading_state: str = "ACTIVE"
    replay: ReplayProgress | None = None
    error: str | None = None
    """One line: why the node is not connected or the feed stopped; None when all is well."""

    @property
    def connected(self) -> bool:
        """Every data and execution client is connected."""
        clients = [*self.data_clients.values(), *self.exec_clients.values()]
        return bool(clients) and all(clients)

    @property
    def data_feed(self) -> str:
        """OK, STALE (a replay that reached the end of its data) or DOWN."""
        if not self.data_clients or not all(self.data_clients.values()):
            return "DOWN"
        if self.replay is not None:
            if self.replay.error is not None:
                return "DOWN"
            if self.replay.finished:
                return "STALE"
        return "OK"

    @property
    def venue_connection(self) -> str:
        """OK when every execution client is connected, else DOWN."""
        ok = bool(self.exec_clients) and all(self.exec_clients.values())
        return "OK" if ok else "DOWN"

    @property
    def detail(self) -> str:
        """Why something is not OK, in one line (empty when all is well)."""
        if self.error is not None:
            return self.error
        if self.replay is not None and self.replay.finished:
            return "replay reached the end of its data"
        return ""

    def to_node_status(self, ts_event: int, equity: float | None = None) -> NodeStatus:
        """The OMS heartbeat record of this state (``equity`` comes from the strategy)."""
        return NodeStatus(
            ts_event=ts_event,
            mode=self.mode,
            venues=self.venues,
            node_state=self.node_state,
            trading_state=self.trading_state,
            data_feed=self.data_feed,
            venue_connection=self.venue_connection,
            equity=equity,
            detail=self.detail,
        )


@dataclass(frozen=True)
class _Plan:
    mode: str
    source: str
    instrument_ids: tuple[str, ...]
    venues: tuple[VenueConfig, ...]
    data: ClientSpec
    execs: tuple[ClientSpec, ...]  # LIVE: the venue's
    sandboxes: tuple[DeskSandboxExecClientConfig, ...]  # SHADOW: one per venue traded


class NautilusLiveEngine:
    """Builds and runs a Nautilus ``TradingNode`` from the desk's config on a given loop.

    Parameters
    ----------
    config : AppConfig
        ``node`` says the mode, source and venue kind; ``venues`` the sandbox's starting
        balances, account type and latency; ``logging`` where logs go; ``data.root`` what
        REPLAY reads.
    loop : asyncio.AbstractEventLoop
        The caller's loop; the node runs on it and leaves it running when stopped.
    mode : str, optional
        ``"shadow"`` or ``"live"``, overriding ``node.mode`` (the command line's ``--mode``).
    confirm_live : bool, default False
        ``--confirm-live``: LIVE starts only with this or ``node.confirm_live``.
    instrument_ids : Sequence[str], optional
        Instruments to trade; default ``backtest.instruments``, else (REPLAY) every instrument
        of the first replayed day's instruments file.
    environ : Mapping[str, str], optional
        Where API keys are read (default ``os.environ``; see ``core.live.venues.CREDENTIALS``).
    log_file_name : str, default "trade-console-node"
        Nautilus's log file under ``logging.directory``.

    Attributes
    ----------
    node : TradingNode
        The node itself (``node.cache``, ``node.portfolio``, ``node.kernel.msgbus``...).
    replay : ReplayDataClient | None
        The replay feed (hooks, progress) on REPLAY; None on venue data.
    mode, source, instrument_ids, venues
        What was resolved from the config: ``"SHADOW"``/``"LIVE"``, ``"replay"``/``"venue"``,
        the instruments traded, the venues (one sandbox each in SHADOW).
    log_path : Path
        Nautilus's log file (unless an earlier engine or backtest set logging up first).

    Raises
    ------
    ConfigError
        LIVE without confirmation, LIVE on REPLAY, a missing API key (naming its variable), a
        venue without a ``[[venues]]`` entry, an adapter whose dependency is missing.
    DataError
        REPLAY without a configured window or instruments, and a data root that lists no days
        or no instruments file. (With both configured, a bad root surfaces at ``start``: the
        replay client fails to connect and ``state().error`` says why.)
    """

    def __init__(
        self,
        config: AppConfig,
        loop: asyncio.AbstractEventLoop,
        *,
        mode: str | None = None,
        confirm_live: bool = False,
        instrument_ids: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
        log_file_name: str = LOG_FILE_NAME,
    ) -> None:
        self.config = config
        self._loop = loop
        plan = _plan(config, mode, confirm_live, instrument_ids, environ)
        self.mode = plan.mode.upper()
        self.source = plan.source
        self.instrument_ids = plan.instrument_ids
        self.venues = tuple(venue.name for venue in plan.venues)
        self.log_path = Path(config.logging.directory) / f"{log_file_name}.log"
        self._sandboxes: list[DeskSandboxExecutionClient] = []
        node_config = TradingNodeConfig(
            trader_id=config.node.trader_id,
            logging=logging_config(
                Path(config.logging.directory), log_file_name, config.logging.level
            ),
            data_engine=LiveDataEngineConfig(),
            risk_engine=LiveRiskEngineConfig(),
            # The sandbox has nothing to reconcile; a venue has open orders and fills.
            exec_engine=LiveExecEngineConfig(reconciliation=plan.mode == "live"),
            data_clients={plan.data.name: plan.data.config},
            exec_clients={spec.name: spec.config for spec in plan.execs},
            timeout_connection=config.node.start_timeout_secs,
            timeout_post_stop=_POST_STOP_S[plan.mode],
        )
        saved = _LoopSettings(loop)
        try:
            self.node = TradingNode(node_config, loop=loop)
        finally:
            saved.restore()
        self._own_executor = saved.executor_restored
        try:
            self.node.add_data_client_factory(plan.data.factory_name, plan.data.factory)
            for spec in plan.execs:
                self.node.add_exec_client_factory(spec.factory_name, spec.factory)
            self.node.build()
            self._sandboxes = [add_sandbox(self.node, sandbox) for sandbox in plan.sandboxes]
            # Idle until a parent names one; their children pass the strategy's checks.
            self.exec_algorithms = register_exec_algorithms(
                self.node.trader, config.execution, config.data.root
            )
        except BaseException:
            self.node.kernel.dispose()
            raise
        self._restore_routing = None
        if plan.mode == "shadow":
            kernel = self.node.kernel
            self._restore_routing = route_order_events_inline(
                kernel.exec_engine, kernel.msgbus, self.venues
            )
        clients = self.node.kernel.data_engine._clients  # readonly: no public accessor
        replay = clients.get(ClientId(REPLAY_CLIENT_NAME))
        self.replay: ReplayDataClient | None = (
            replay if isinstance(replay, ReplayDataClient) else None
        )
        self._task: asyncio.Task | None = None
        self._log_flusher: asyncio.Task | None = None
        self._phase = "STOPPED"
        self._error: str | None = None
        self._disposed = False

    # -- components ------------------------------------------------------------------------

    def add_strategy(self, strategy: Strategy) -> None:
        """Add a strategy to the trader (before ``start``)."""
        self._before_start("add_strategy")
        self.node.trader.add_strategy(strategy)

    def add_actor(self, actor: Actor) -> None:
        """Add an actor (the OMS feed, a watcher's bridge...) to the trader (before ``start``)."""
        self._before_start("add_actor")
        self.node.trader.add_actor(actor)

    def _before_start(self, what: str) -> None:
        if self._task is not None:
            raise RuntimeError(f"{what}: the node has already been started")

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> EngineState:
        """Run the node and wait until it trades, fails to connect, or times out.

        Returns the state either way; ``state().node_state`` is RUNNING when every client is
        connected and the trader runs, DEGRADED (with ``error``) otherwise. A replay starts
        only once the trader runs, so no strategy misses its first trades.
        """
        if self._task is not None:
            raise RuntimeError("start: the node has already been started")
        self._phase = "STARTING"
        self._task = self._loop.create_task(self.node.run_async(), name="nautilus-node")
        self._log_flusher = self._loop.create_task(_flush_log_every(LOG_FLUSH_SECS))
        deadline = self._loop.time() + self.config.node.start_timeout_secs
        while self._loop.time() < deadline:
            if self._task.done() or (self.replay is not None and self.replay.error is not None):
                break
            if self.node.trader.is_running and self._clients_connected():
                break
            await asyncio.sleep(_POLL_S)
        if self.node.trader.is_running and self._clients_connected():
            if self.replay is not None:
                self.replay.start_replay()
            self._phase = "RUNNING"
        else:
            self._phase = "DEGRADED"
            self._error = self._not_connected_reason()
        return self.state()

    async def stop(self) -> None:
        """Stop the node and release it; the loop keeps running. Safe to call twice."""
        if self._disposed:
            return
        self._disposed = True
        self._phase = "STOPPING"
        task = self._task
        kernel = self.node.kernel
        if task is not None and not task.done() and not self.node.trader.is_running:
            # Still connecting (or never connected): interrupt the kernel's start first, or
            # it would start the trader after we stopped.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for sandbox in self._sandboxes:
            sandbox.stop_filling()  # a stopping node's simulated venue fills nothing more
        try:
            if kernel.is_running():
                await self.node.stop_async()
        finally:
            if self._restore_routing is not None:
                self._restore_routing()
                self._restore_routing = None
            kernel.dispose()  # never node.dispose(): it stops the caller's loop
            if task is not None and not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout=2.0)
                except TimeoutError:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if self._own_executor and kernel.executor is not None:
                kernel.executor.shutdown(wait=False, cancel_futures=True)
            if self._log_flusher is not None:
                self._log_flusher.cancel()
                await asyncio.gather(self._log_flusher, return_exceptions=True)
                self._log_flusher = None
            # Every line up to the kernel's DISPOSED, in the file before the caller goes on
            # (the process may end with os._exit, which no logger thread survives).
            sync_logger_to_disk()
            self._task = None
            self._phase = "STOPPED"

    # -- state -----------------------------------------------------------------------------

    def state(self) -> EngineState:
        """Where the node stands now (cheap: reads flags, no I/O)."""
        kernel = self.node.kernel
        data = {
            str(cid): client.is_connected for cid, client in kernel.data_engine._clients.items()
        }
        execs = {
            str(cid): client.is_connected for cid, client in kernel.exec_engine._clients.items()
        }
        phase = self._phase
        error = self._error
        trader_running = self.node.trader.is_running
        replay = None if self.replay is None else self.replay.progress()
        if phase == "RUNNING":
            connected = all(data.values()) and all(execs.values())
            if not (trader_running and connected):
                phase = "DEGRADED"
                error = error or self._not_connected_reason()
            elif replay is not None and replay.error is not None:
                phase = "DEGRADED"
                error = f"replay stopped: {replay.error}"
        return EngineState(
            mode=self.mode,
            source=self.source,
            venues=self.venues,
            node_state=phase,
            kernel_running=kernel.is_running(),
            trader_running=trader_running,
            data_clients=data,
            exec_clients=execs,
            trading_state=trading_state_to_str(kernel.risk_engine.trading_state),
            replay=replay,
            error=error,
        )

    def _clients_connected(self) -> bool:
        kernel = self.node.kernel
        return kernel.data_engine.check_connected() and kernel.exec_engine.check_connected()

    def _not_connected_reason(self) -> str:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            failure = self._task.exception()
            if failure is not None:
                return f"NOT CONNECTED: node failed: {one_line(failure)}"
        if self.replay is not None and self.replay.error is not None:
            return f"NOT CONNECTED: {REPLAY_CLIENT_NAME}: {self.replay.error}"
        kernel = self.node.kernel
        down = [
            str(cid)
            for engine in (kernel.data_engine, kernel.exec_engine)
            for cid, client in engine._clients.items()
            if not client.is_connected
        ]
        if down:
            return (
                f"NOT CONNECTED: {', '.join(down)} after {self.config.node.start_timeout_secs:g} s"
            )
        return "NOT CONNECTED: clients connected but the trader did not start"


async def _flush_log_every(seconds: float) -> None:
    """Ask Nautilus's logger thread to write out its buffer every ``seconds`` (never blocks)."""
    while True:
        await asyncio.sleep(seconds)
        flush_logger()


class _LoopSettings:
    """What a kernel built on a given loop changes on it, saved so it can be put back."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS}
        # asyncio's own loops keep their handles here; uvloop has no equivalent.
        self._loop_handlers = dict(getattr(loop, "_signal_handlers", None) or {})
        self._debug = loop.get_debug()
        self._executor = getattr(loop, "_default_executor", _UNKNOWN)
        self.executor_restored = False

    def restore(self) -> None:
        for sig in _SIGNALS:
            try:
                self._loop.remove_signal_handler(sig)
            except (RuntimeError, ValueError):  # a closed loop, or not the main thread
                continue
            handle = self._loop_handlers.get(sig)
            if handle is not None:
                self._loop.add_signal_handler(sig, handle._callback, *handle._args)
            elif self._handlers[sig] is not None:
                signal.signal(sig, self._handlers[sig])
        self._loop.set_debug(self._debug)
        if self._executor is not _UNKNOWN:
            self._loop._default_executor = self._executor  # type: ignore[attr-defined]
            self.executor_restored = True


def _plan(
    config: AppConfig,
    mode: str | None,
    confirm_live: bool,
    instrument_ids: Sequence[str] | None,
    environ: Mapping[str, str] | None,
) -> _Plan:
    node = config.node
    mode = node.mode if mode is None else mode
    if mode not in ("shadow", "live"):
        raise ConfigError(f"--mode: '{mode}' is not shadow or live")
    if mode == "live":
        if not (confirm_live or node.confirm_live):
            raise ConfigError(
                "node.mode: LIVE sends real orders: set node.confirm_live = true or pass "
                "--confirm-live"
            )
        if node.source == "replay":
            raise ConfigError('node.source: LIVE trades on the venue\'s own data: set "venue"')
    if node.source == "replay":
        start_ns, end_ns = _replay_window(config)
        ids = tuple(instrument_ids or config.backtest.instruments) or _all_instruments(
            config, start_ns
        )
    else:
        start_ns = end_ns = 0
        ids = tuple(instrument_ids or config.backtest.instruments)
        if not ids:
            raise ConfigError("backtest.instruments: name the instruments the node trades")
    venues = _venues(config, ids)
    if node.source == "replay":
        replay = ReplayDataClientConfig(
            data_root=config.data.root,
            instruments_root=config.data.instruments,
            instrument_ids=ids,
            start_ns=start_ns,
            end_ns=end_ns,
            speed=node.replay_speed,
        )
        check_replay_config(replay)
        data = ClientSpec(REPLAY_CLIENT_NAME, replay, ReplayDataClientFactory)
    else:
        data = venue_data_client(node.venue_kind, ids, environ)
    if mode == "live":
        return _Plan(
            mode,
            node.source,
            ids,
            venues,
            data,
            (venue_exec_client(node.venue_kind, ids, environ),),
            (),
        )
    sandboxes = tuple(
        sandbox_exec_config(venue, _latency_ns(venue, node.source, node.replay_speed))
        for venue in venues
    )
    return _Plan(mode, node.source, ids, venues, data, (), sandboxes)


def _latency_ns(venue: VenueConfig, source: str, speed: float) -> int:
    # The backtest's latency is in recorded time; a paced replay runs speed times faster.
    latency_ns = venue.latency_ms * 1_000_000
    if source == "venue":
        return round(latency_ns)
    if speed == 0:
        return 0  # flat out has no fixed ratio: orders meet the last trade replayed
    return round(latency_ns / speed)


def _replay_window(config: AppConfig) -> tuple[int, int]:
    node = config.node
    start, end = data_window(
        config.data.root,
        (node.replay_start, "node.replay_start"),
        (node.replay_end, "node.replay_end"),
    )
    return to_ns(start), to_ns(end)


def _all_instruments(config: AppConfig, start_ns: int) -> tuple[str, ...]:
    day = dt.datetime.fromtimestamp(start_ns // 1_000_000_000, dt.UTC).date()
    return tuple(sorted(load_instrument_specs(config.data.instruments, day)))


def _venues(config: AppConfig, instrument_ids: Sequence[str]) -> tuple[VenueConfig, ...]:
    by_name = {venue.name: venue for venue in config.venues}
    used: dict[str, VenueConfig] = {}
    for instrument_id in instrument_ids:
        try:
            name = InstrumentId.from_str(instrument_id).venue.value
        except ValueError:
            raise ConfigError(f"instrument '{instrument_id}' is not SYMBOL.VENUE") from None
        if name not in by_name:
            raise ConfigError(f"venues: no [[venues]] entry named '{name}' for {instrument_id}")
        used[name] = by_name[name]
    return tuple(used.values())
