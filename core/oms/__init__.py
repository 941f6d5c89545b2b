"""The local order-management store (OMS): SQLite, written by the node, read by the panes.

``OmsStore`` opens the database and writes records in batches; ``core.oms.events`` holds the
records; ``core.execution.oms_feed`` (imported on its own, as it loads Nautilus) turns Nautilus
events into records. For synchronous code (a backtest), ``core.oms.background.BackgroundStore``
runs a store on its own thread and ``core.oms.run_recorder.RunRecorder`` records a run's life.
``core.oms.health`` reads the desk's health (node, parts, uploads) from the database;
``core.oms.node_holder`` names the node that holds the OMS and judges whether it is gone.

May import: ``core.storage`` (and the root modules). Everything above it writes or reads
through it; it knows nothing of Nautilus but what ``events`` records.
"""

from core.oms.errors import OmsError, OmsMissingError
from core.oms.events import (
    AUDIT_ACTIONS,
    NODE_MODES,
    NODE_STATES,
    RUN_STATES,
    SEVERITIES,
    TARGET_SOURCES,
    TRADING_STATES,
    UPLOAD_STATES,
    AuditEntry,
    BacktestStarted,
    BalanceSnapshot,
    DriftObservation,
    Fill,
    NodeHolder,
    NodeReleased,
    NodeStarted,
    NodeStatus,
    OrderEvent,
    PositionSnapshot,
    Record,
    RiskAlert,
    RoutedOrder,
    RunState,
    TargetsRecord,
    TradingStateRecord,
    UploadState,
)
from core.oms.notification_record import NOTIFICATION_KINDS, Notification
from core.oms.pnl_record import MARK_SOURCES, InstrumentPnl, PnlSnapshot
from core.oms.schema import SCHEMA_VERSION
from core.oms.store import DEFAULT_DATABASE, Changes, OmsStore
from core.oms.writer import Commit, WriterStats

__all__ = [
    "AUDIT_ACTIONS",
    "DEFAULT_DATABASE",
    "MARK_SOURCES",
    "NODE_MODES",
    "NODE_STATES",
    "NOTIFICATION_KINDS",
    "RUN_STATES",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "TARGET_SOURCES",
    "TRADING_STATES",
    "UPLOAD_STATES",
    "AuditEntry",
    "BacktestStarted",
    "BalanceSnapshot",
    "Changes",
    "Commit",
    "DriftObservation",
    "Fill",
    "InstrumentPnl",
    "NodeHolder",
    "NodeReleased",
    "NodeStarted",
    "NodeStatus",
    "Notification",
    "OmsError",
    "OmsMissingError",
    "OmsStore",
    "OrderEvent",
    "PnlSnapshot",
    "PositionSnapshot",
    "Record",
    "RiskAlert",
    "RoutedOrder",
    "RunState",
    "TargetsRecord",
    "TradingStateRecord",
    "UploadState",
    "WriterStats",
]
