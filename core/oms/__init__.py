"""The local order-management store (OMS): SQLite, written by the node, read by the panes.

``OmsStore`` opens the database and writes records in batches; ``core.oms.events`` holds the
records; ``core.oms.nautilus_feed`` (imported on its own, as it loads Nautilus) turns Nautilus
events into records.
"""

from core.oms.errors import OmsError
from core.oms.events import (
    AUDIT_ACTIONS,
    RUN_STATES,
    SEVERITIES,
    UPLOAD_STATES,
    AuditEntry,
    BalanceSnapshot,
    DriftObservation,
    Fill,
    OrderEvent,
    PositionSnapshot,
    Record,
    RiskAlert,
    RunState,
    UploadState,
)
from core.oms.schema import SCHEMA_VERSION
from core.oms.store import DEFAULT_DATABASE, Changes, OmsStore
from core.oms.writer import Commit, WriterStats

__all__ = [
    "AUDIT_ACTIONS",
    "DEFAULT_DATABASE",
    "RUN_STATES",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "UPLOAD_STATES",
    "AuditEntry",
    "BalanceSnapshot",
    "Changes",
    "Commit",
    "DriftObservation",
    "Fill",
    "OmsError",
    "OmsStore",
    "OrderEvent",
    "PositionSnapshot",
    "Record",
    "RiskAlert",
    "RunState",
    "UploadState",
    "WriterStats",
]
