"""What the OMS ingests: plain frozen records, one type per kind of fact.

Records carry no Nautilus objects, only strings, numbers and ns timestamps (int64, UTC), so the
node, a backtest, the upload worker and the console can all produce them, and a test can write
them by hand. Each record names the row it becomes by a natural key, which makes ingestion
idempotent: the same record twice is one row.

State tables keep the latest record per key (an order's latest event is its current state, a
position's latest snapshot its current position); history tables keep every record.

======================  ==========================  ===========================================
record                  key                         tables
======================  ==========================  ===========================================
``OrderEvent``          client_order_id, event_id   order_events (history), orders (state)
``Fill``                trade_id, client_order_id   fills
``PositionSnapshot``    position_id, event_id       position_events, positions (state)
``BalanceSnapshot``     account_id, currency        balances (state)
``DriftObservation``    client_order_id, trade_id,  drift_observations
                        reference
``RiskAlert``           alert_id                    risk_alerts
``UploadState``         file                        uploads (state)
``RunState``            run_id                      runs (state)
``AuditEntry``          entry_id                    audit_log
``NodeStatus``          (a single row)              node_status (state)
``TradingStateRecord``  ts_event, state, actor      trading_state (history; the latest is
                                                    the state in force)
``BacktestStarted``     (none: a deletion)          deletes earlier backtests' trading rows
``NodeStarted``         (none: a deletion)          the same, as a node starts
``RoutedOrder``         client_order_id             route_decisions (state)
``NodeHolder``          (a single row)              node_holder (state; written only over the
                                                    holding it names in ``replaces``)
``NodeReleased``        token                       deletes that holding's node_holder row
``PnlSnapshot``         (a single row)              pnl (state; ``core.oms.pnl_record``)
``Notification``        notification_id             notifications (history;
                                                    ``core.oms.notification_record``)
======================  ==========================  ===========================================

Construction checks only the values the OMS itself defines (upload and run states, alert
severities, audit actions); a bad one is a programming error and raises ``ValueError``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from core.errors import one_line_text
from core.oms.notification_record import Notification
from core.oms.pnl_record import PnlSnapshot

_RECORD = {"frozen": True, "kw_only": True}

UPLOAD_STATES = ("queued", "uploading", "done", "failed")
# The last three as in summary.json; CANCELLED: the operator cancelled the run.
RUN_STATES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")
SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")
AUDIT_ACTIONS = (
    "kill",
    "reduce",
    "flatten",
    "rearm",
    "rebalance",
    "backtest_launch",
    "detach",
    "node_takeover",
    "restore_targets",
    "settle_orphans",
)
TARGET_SOURCES = ("file", "preview", "flatten", "restore")
"""How targets came into force: a research file, the operator's preview, a flatten (every
target 0), the operator restoring the targets a flatten replaced."""
NODE_MODES = ("LIVE", "SHADOW")
NODE_STATES = ("STARTING", "RUNNING", "STOPPING", "STOPPED", "DEGRADED")
TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")  # Nautilus's TradingState names
DATA_FEED_STATES = ("OK", "STALE", "DOWN")
CONNECTION_STATES = ("OK", "DOWN")
ORPHANED = "ORPHANED"
"""The desk's own closed status (not Nautilus's): an order a node session left open when it
ended, which nothing manages any more (see ``core.live.orphans``); its reason says why."""
# Nautilus's order statuses after which nothing more happens to an order, and ORPHANED.
CLOSED_ORDER_STATUSES = ("FILLED", "CANCELED", "REJECTED", "DENIED", "EXPIRED", ORPHANED)
TRADING_STATE_SOURCES = ("console", "cli", "auto")
"""Where a trading-state change came from: a console's kill switch, a shell's ``kill`` /
``rearm``, or the node's own risk rules (a drawdown limit)."""


def _check(value: str, allowed: tuple[str, ...], field: str) -> None:
    if value not in allowed:
        raise ValueError(f"{field}: {value!r} is not one of {', '.join(allowed)}")


class OrderEvent(msgspec.Struct, **_RECORD):
    """One event in an order's life, with the order's state right after it.

    Carrying the whole state makes the latest event of an order its current row, and lets the
    history be read back as the order looked at each step.
    """

    client_order_id: str
    event_id: str
    event_type: str
    """INITIALIZED, DENIED, SUBMITTED, ACCEPTED, REJECTED, UPDATED, CANCELED, FILLED, ..."""
    sequence: int
    """1-based position of the event in the order's history: a later event has a larger one."""
    ts_event: int
    status: str
    """The order's status after the event (Nautilus's names: FILLED, PARTIALLY_FILLED, ...)."""
    instrument_id: str
    strategy_id: str
    side: str
    order_type: str
    quantity: float
    price: float | None = None
    """Limit price; None for market orders."""
    filled_qty: float = 0.0
    avg_px: float | None = None
    venue_order_id: str | None = None
    reason: str | None = None
    """Why it was denied, rejected or a modify/cancel refused."""
    operation_id: str | None = None
    """The rebalance or signal that caused the order (from its tags)."""
    decision_price: float | None = None
    """The price the strategy decided at (from its tags): drift is measured from it."""
    created_at: int
    """The order's creation time (its initialisation)."""
    run_id: str | None = None
    """The backtest that produced it; None for the node's (see ``BacktestStarted``)."""
    parent_order_id: str | None = None
    """The parent an execution algorithm spawned this child from (Nautilus's
    ``exec_spawn_id``); None for an order that is not a child."""

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_ORDER_STATUSES


class Fill(msgspec.Struct, **_RECORD):
    """One execution of an order (an order filled in two parts is two fills)."""

    trade_id: str
    client_order_id: str
    instrument_id: str
    strategy_id: str
    side: str
    quantity: float
    price: float
    commission: float
    commission_currency: str
    liquidity_side: str
    ts_event: int
    venue_order_id: str | None = None
    position_id: str | None = None
    account_id: str | None = None
    operation_id: str | None = None
    decision_price: float | None = None
    run_id: str | None = None
    """The backtest that produced it; None for the node's (see ``BacktestStarted``)."""


class PositionSnapshot(msgspec.Struct, **_RECORD):
    """A position as it stood after one of its events (opened, changed, closed)."""

    position_id: str
    event_id: str
    event_type: str
    """OPENED, CHANGED or CLOSED."""
    sequence: int
    """How many fills the position had taken: orders two snapshots of the same instant."""
    ts_event: int
    instrument_id: str
    strategy_id: str
    account_id: str
    side: str
    """LONG, SHORT or FLAT."""
    signed_qty: float
    quantity: float
    avg_px_open: float
    avg_px_close: float | None = None
    last_px: float
    last_qty: float
    realized_pnl: float
    unrealized_pnl: float
    currency: str
    ts_opened: int
    ts_closed: int | None = None
    run_id: str | None = None
    """The backtest that produced it; None for the node's (see ``BacktestStarted``)."""


class BalanceSnapshot(msgspec.Struct, **_RECORD):
    """One currency's balance in one account, after an account state."""

    account_id: str
    currency: str
    total: float
    locked: float
    free: float
    ts_event: int
    event_id: str
    account_type: str
    """CASH, MARGIN or BETTING."""
    run_id: str | None = None
    """The backtest that produced it; None for the node's (see ``BacktestStarted``)."""


class DriftObservation(msgspec.Struct, **_RECORD):
    """How far a fill landed from a reference price, in basis points.

    ``drift_bps`` is signed as a cost: positive when the fill was worse than the reference
    (a buy above it, a sell below it), so one threshold serves both sides.
    """

    client_order_id: str
    trade_id: str
    reference: str
    """What the reference price is: ``decision`` (the price the strategy decided at), ``mid``
    or ``last``."""
    instrument_id: str
    side: str
    ts_event: int
    fill_price: float
    reference_price: float
    drift_bps: float
    threshold_bps: float
    over_threshold: bool
    run_id: str | None = None
    """The backtest that produced it; None for the node's (see ``BacktestStarted``)."""

    @classmethod
    def measure(
        cls,
        fill: Fill,
        reference_price: float,
        reference: str,
        threshold_bps: float,
    ) -> DriftObservation:
        """The drift of ``fill`` from ``reference_price`` (which must be positive)."""
        if not reference_price > 0:
            raise ValueError(f"reference_price: {reference_price} is not positive")
        sign = 1.0 if fill.side == "BUY" else -1.0
        drift = sign * (fill.price - reference_price) / reference_price * 10_000
        return cls(
            client_order_id=fill.client_order_id,
            trade_id=fill.trade_id,
            reference=reference,
            instrument_id=fill.instrument_id,
            side=fill.side,
            ts_event=fill.ts_event,
            fill_price=fill.price,
            reference_price=reference_price,
            drift_bps=drift,
            threshold_bps=threshold_bps,
            over_threshold=abs(drift) > threshold_bps,
            run_id=fill.run_id,
        )


class RiskAlert(msgspec.Struct, **_RECORD):
    """Something a risk rule raised: a denied order, a trading-state change, a breached limit."""

    alert_id: str
    ts_event: int
    severity: str
    rule: str
    message: str
    instrument_id: str | None = None
    details: dict[str, Any] | None = None
    run_id: str | None = None
    """The backtest that produced it; None for the node's (see ``BacktestStarted``)."""

    def __post_init__(self) -> None:
        _check(self.severity, SEVERITIES, "RiskAlert.severity")
        # An alert often quotes outside text (a target file's key, a venue's reason): bounded
        # and escaped here, the one place every writer's alert passes, so no file can bloat the
        # OMS or put a terminal escape on the screens and in ``status``.
        for name in ("message", "instrument_id"):
            value = getattr(self, name)
            if value is not None:
                msgspec.structs.force_setattr(self, name, one_line_text(value))


class UploadState(msgspec.Struct, **_RECORD):
    """Where one file stands in the GCS upload queue."""

    file: str
    state: str
    """queued, uploading, done or failed."""
    size: int
    updated_at: int
    retries: int = 0
    last_error: str | None = None
    md5: str | None = None
    destination: str | None = None

    def __post_init__(self) -> None:
        _check(self.state, UPLOAD_STATES, "UploadState.state")


class RunState(msgspec.Struct, **_RECORD):
    """Where one backtest run stands."""

    run_id: str
    state: str
    """QUEUED, RUNNING, COMPLETED, FAILED or CANCELLED."""
    updated_at: int
    progress: float = 0.0
    """Fraction done, 0 to 1."""
    phase: str | None = None
    """reading, running or writing (``core.backtest.pipeline.Progress.phase``)."""
    result_folder: str | None = None
    error: str | None = None
    started_at: int | None = None

    def __post_init__(self) -> None:
        _check(self.state, RUN_STATES, "RunState.state")
        if not 0.0 <= self.progress <= 1.0:
            raise ValueError(f"RunState.progress: {self.progress} is not between 0 and 1")


class AuditEntry(msgspec.Struct, **_RECORD):
    """An operator's action: who did what, when and why."""

    entry_id: str
    ts: int
    actor: str
    action: str
    """One of ``AUDIT_ACTIONS``: kill, reduce, flatten, rearm, rebalance, backtest_launch,
    detach (a console left its node running headless), node_takeover (a node took the OMS
    over from one that died) or restore_targets."""
    reason: str
    details: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _check(self.action, AUDIT_ACTIONS, "AuditEntry.action")

    @classmethod
    def now(
        cls, actor: str, action: str, reason: str, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        """A new entry stamped with the wall clock and a fresh id."""
        return cls(
            entry_id=uuid.uuid4().hex,
            ts=time.time_ns(),
            actor=actor,
            action=action,
            reason=reason,
            details=details,
        )


class BacktestStarted(msgspec.Struct, **_RECORD):
    """Backtest ``run_id`` starts feeding the OMS: the trading rows of earlier backtests go.

    Without this, two runs of one strategy over the same days would mix in the panes: Nautilus
    numbers orders from the backtest clock, so both runs have the same order ids, and the
    second run's events would be taken for repeats of the first's.

    It deletes every backtest row submitted before it (whatever its run id: two results roots
    can both have a ``BT-20260105-001``) and none submitted after it, even in the same batch.
    The node's rows (``run_id`` NULL) are never touched; the ``runs`` table keeps every run.
    Two backtests fed at the same time still mix: the later start only clears the rows the
    earlier one had written so far.
    """

    run_id: str


class NodeStarted(msgspec.Struct, **_RECORD):
    """A node starts feeding this OMS: every backtest's trading rows go, as for
    ``BacktestStarted``, and so does the last session's ``PnlSnapshot`` (the new session's PnL
    starts from its own equity).

    A backtest run while no node ran leaves its trading in the OMS for the dashboard to show;
    once a node runs, its panes must show the node's trading only, or an operator could read
    a backtest's fills as the node's. While a node runs, backtests record none, and one that
    sees a node start during it submits this too, for what it wrote since
    (``core.backtest.node_guard``). The node's own rows and the ``runs`` table are never touched.
    """

    ts_event: int


class NodeStatus(msgspec.Struct, **_RECORD):
    """The running node's heartbeat: what it is, how it is, and when it last said so.

    The node writes one every few seconds and the OMS keeps only the latest, so a reader knows
    both the node's state and, from ``ts_event``, whether a node runs at all: a heartbeat that
    stopped coming means the node is gone, whatever its last state said.
    """

    ts_event: int
    """When the node wrote this heartbeat (ns, wall clock)."""
    mode: str
    """LIVE or SHADOW."""
    venues: tuple[str, ...]
    node_state: str
    """STARTING, RUNNING, STOPPING, STOPPED or DEGRADED."""
    trading_state: str
    """ACTIVE, REDUCING or HALTED."""
    data_feed: str
    """OK, STALE or DOWN."""
    venue_connection: str
    """OK or DOWN."""
    equity: float | None
    """The account's value in the valuation currency; None before the first valuation."""
    detail: str = ""
    """Why the node is DEGRADED or a component is not OK, for the Health pane."""
    parts: tuple[tuple[str, str, str], ...] = ()
    """Each part of the node as it reports itself: (name, OK|WARN|DOWN, detail), e.g.
    ``("target watcher", "DOWN", "ended: RecursionError ...")``. A part whose task ended or
    raised says DOWN with its error: a live-looking heartbeat never hides a dead part."""

    def __post_init__(self) -> None:
        _check(self.mode, NODE_MODES, "NodeStatus.mode")
        _check(self.node_state, NODE_STATES, "NodeStatus.node_state")
        _check(self.trading_state, TRADING_STATES, "NodeStatus.trading_state")
        _check(self.data_feed, DATA_FEED_STATES, "NodeStatus.data_feed")
        _check(self.venue_connection, CONNECTION_STATES, "NodeStatus.venue_connection")


class TradingStateRecord(msgspec.Struct, **_RECORD):
    """A change of the desk's trading state (the kill switch), kept so that it outlives restarts.

    A console or node started after a kill must come up HALTED until someone re-arms: the
    latest record is the state in force. No record at all means trading was never halted
    (ACTIVE).
    """

    ts_event: int
    state: str
    """ACTIVE, REDUCING or HALTED."""
    actor: str
    """Who changed it (an operator's name, or the risk rule that tripped)."""
    reason: str
    flatten: bool = False
    """With HALTED: cancel every open order, close every position (through the risk checks),
    then halt. The node does it once, for the latest such record."""
    source: str | None = None
    """console, cli or auto (``TRADING_STATE_SOURCES``); None on a change recorded before the
    OMS kept it."""
    host: str | None = None
    """The machine the change was made on; None when not recorded."""

    def __post_init__(self) -> None:
        _check(self.state, TRADING_STATES, "TradingStateRecord.state")
        if self.source is not None:
            _check(self.source, TRADING_STATE_SOURCES, "TradingStateRecord.source")


class TargetsRecord(msgspec.Struct, **_RECORD):
    """The node's targets in force changed: from ``ts_event`` on it trades to ``weights``.

    Written when the node trades a research file, an operator's preview, a flatten (every
    target 0) or a restore; a file kept untraded (the node halted, a preview pending) is not
    in force and writes none. So after a flatten the record before it says which targets the
    flatten replaced, for a re-arm to offer them back.
    """

    ts_event: int
    source: str
    """file, preview, flatten or restore (``TARGET_SOURCES``)."""
    weights: dict[str, float]
    """Every target in force after the change (instrument id -> fraction of equity)."""
    operation_id: str
    """The operation its orders are tagged with (``targets-<sha>``, ``flatten-<ns>``...)."""
    actor: str
    """Who put them in force: the research file's strategy id, an operator, a flatten's actor."""
    as_of: int | None = None
    """When research decided them (a file's ``as_of``, ns; kept by a restore); None for a
    preview or a flatten."""

    def __post_init__(self) -> None:
        _check(self.source, TARGET_SOURCES, "TargetsRecord.source")


class RoutedOrder(msgspec.Struct, **_RECORD):
    """Where the smart order router sent one order, and why (``core.execution.routing``).

    One per order the router placed: the orders of a split share ``decision_id`` and each
    carries the whole decision (every venue weighed, its cost components and total), so the
    Orders pane explains any one order from its own row.
    """

    client_order_id: str
    decision_id: str
    """One per routed rebalance line: the legs of a split (and a reroute) share it."""
    ts_event: int
    instrument_id: str
    """The order's instrument, on the venue chosen (``BTCUSDT.BYBIT``)."""
    venue: str
    side: str
    quantity: float
    """This order's quantity."""
    parent_quantity: float
    """The quantity the decision routed in all (the line's)."""
    order_type: str
    explanation: str
    """The decision in one line (``BUY 0.3 -> BYBIT at 6.00 bps (...); vs BINANCE 10.00``)."""
    candidates: tuple[dict[str, Any], ...]
    """Each venue weighed, cheapest first: venue, fee_bps, latency_bps, total_bps, liquidity,
    capacity, quantity."""
    operation_id: str | None = None
    rerouted_from: str | None = None
    """The order the venue rejected, when this one replaces it on the next cheapest venue."""
    run_id: str | None = None
    """The backtest that produced it; None for the node's (see ``BacktestStarted``)."""


class NodeHolder(msgspec.Struct, **_RECORD):
    """The node that holds this OMS: the one node allowed to trade on it (``core.live.lease``).

    Written when a node starts, deleted when it stops (``NodeReleased``); a node that died
    leaves it behind for the next one to judge and take over. It is what names the holder in a
    second node's refusal and in ``status``, on this host or another.

    The write is a compare-and-set: it lands only when the table is empty, holds this same
    ``token``, or holds the holding named in ``replaces``. A node that lost a race to another
    therefore reads the winner back, not itself.
    """

    token: str
    """Identifies this holding (a fresh uuid each time a node starts)."""
    pid: int
    host: str
    os_user: str
    """The operating-system user the node runs as."""
    started_at: int
    """When the node took the OMS (ns, wall clock)."""
    replaces: str | None = None
    """The token of the holding this one took over from (a node that died); None when the
    OMS was free."""


class NodeReleased(msgspec.Struct, **_RECORD):
    """The node holding ``token`` stopped: its ``NodeHolder`` row goes (another's stays)."""

    token: str


Record = (
    OrderEvent
    | Fill
    | PositionSnapshot
    | BalanceSnapshot
    | DriftObservation
    | RiskAlert
    | UploadState
    | RunState
    | AuditEntry
    | BacktestStarted
    | NodeStarted
    | NodeStatus
    | TradingStateRecord
    | RoutedOrder
    | NodeHolder
    | NodeReleased
    | TargetsRecord
    | PnlSnapshot
    | Notification
)
