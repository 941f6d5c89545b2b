"""How each record becomes rows: the SQL that makes ingestion idempotent, and back again.

History tables ignore a row whose natural key is already there, so a record seen twice is one
row. State tables take an UPSERT that only replaces the row with a *newer* record (a larger
sequence or a later timestamp), so a late or repeated event never rolls an order, a position or
an upload back to an older state. ``BacktestStarted``, ``NodeStarted`` and ``NodeReleased``
delete (see their docstrings).

Columns are the record's fields by name, so a record and its row cannot drift apart silently:
a field without a column fails the first write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from core.oms.events import (
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
    PnlSnapshot,
    PositionSnapshot,
    Record,
    RiskAlert,
    RoutedOrder,
    RunState,
    TargetsRecord,
    TradingStateRecord,
    UploadState,
)
from core.oms.notification_record import Notification
from core.oms.schema import BACKTEST_FED

_JSON_FIELDS = frozenset(
    {"details", "venues", "candidates", "parts", "weights", "instruments"}
)  # as JSON
_WITH_JSON = (RiskAlert, AuditEntry, NodeStatus, RoutedOrder, TargetsRecord, PnlSnapshot)


@dataclass(frozen=True)
class _Latest:
    """How a state table's upsert picks between two records of one key: by ``rank``; on a
    tie the first stays (a ``>`` guard) or the later replaces it (``>=``)."""

    key: tuple[str, ...]
    rank: tuple[str, ...]
    ties_to_later: bool


@dataclass(frozen=True)
class _Statement:
    table: str
    sql: str
    latest: _Latest | None = None
    """For a state table's upsert: the rule its guard applies, so that a batch can send only
    the row that would win for each key (the others would each cost a round of the upsert,
    to be overwritten or ignored in the same transaction)."""


def _history(table: str, fields: Sequence[str]) -> _Statement:
    columns = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    # ON CONFLICT DO NOTHING ignores only a repeated key; INSERT OR IGNORE would also drop a
    # row with a NULL in a NOT NULL column, silently.
    return _Statement(
        table, f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    )


def _state(
    table: str,
    fields: Sequence[str],
    key: Sequence[str],
    newer: str,
    latest: _Latest | None = None,
) -> _Statement:
    columns = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    updates = ", ".join(f"{f} = excluded.{f}" for f in fields if f not in key)
    return _Statement(
        table,
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE {newer}",
        latest,
    )


def _fields(record_type: type[msgspec.Struct]) -> tuple[str, ...]:
    return record_type.__struct_fields__


_ORDER = _fields(OrderEvent)
_POSITION = _fields(PositionSnapshot)
# Every backtest's rows, whatever their run id: two results roots can both have a
# BT-20260105-001, and the rows of the older one must go as well.
_CLEAR_BACKTESTS = tuple(
    _Statement(table, f"DELETE FROM {table} WHERE run_id IS NOT NULL") for table in BACKTEST_FED
)

_STATEMENTS: dict[type, tuple[_Statement, ...]] = {
    OrderEvent: (
        _history("order_events", _ORDER),
        _state(
            "orders",
            _ORDER,
            ("client_order_id",),
            "excluded.sequence > orders.sequence",
            _Latest(("client_order_id",), ("sequence",), ties_to_later=False),
        ),
    ),
    Fill: (_history("fills", _fields(Fill)),),
    PositionSnapshot: (
        _history("position_events", _POSITION),
        _state(
            "positions",
            _POSITION,
            ("position_id",),
            # Two fills at one instant give two snapshots with the same ts_event: the one
            # that had taken more fills is the later.
            "(excluded.ts_event, excluded.sequence) > (positions.ts_event, positions.sequence)",
            _Latest(("position_id",), ("ts_event", "sequence"), ties_to_later=False),
        ),
    ),
    BalanceSnapshot: (
        _state(
            "balances",
            _fields(BalanceSnapshot),
            ("account_id", "currency"),
            "excluded.ts_event >= balances.ts_event",
            _Latest(("account_id", "currency"), ("ts_event",), ties_to_later=True),
        ),
    ),
    DriftObservation: (_history("drift_observations", _fields(DriftObservation)),),
    RiskAlert: (_history("risk_alerts", _fields(RiskAlert)),),
    UploadState: (
        _state(
            "uploads", _fields(UploadState), ("file",), "excluded.updated_at >= uploads.updated_at"
        ),
    ),
    RunState: (
        _state("runs", _fields(RunState), ("run_id",), "excluded.updated_at >= runs.updated_at"),
    ),
    AuditEntry: (_history("audit_log", _fields(AuditEntry)),),
    NodeStatus: (
        # The conflict is on the table's constant id (1): every heartbeat is the same row.
        _state(
            "node_status",
            _fields(NodeStatus),
            ("id",),
            "excluded.ts_event >= node_status.ts_event",
        ),
    ),
    TradingStateRecord: (_history("trading_state", _fields(TradingStateRecord)),),
    TargetsRecord: (_history("targets", _fields(TargetsRecord)),),
    RoutedOrder: (
        # The latest decision for an order id wins: a backtest run again numbers its orders
        # as before, and its routes must replace the earlier run's, not hide behind them.
        _state(
            "route_decisions",
            _fields(RoutedOrder),
            ("client_order_id",),
            "excluded.ts_event >= route_decisions.ts_event OR route_decisions.run_id IS NOT NULL",
        ),
    ),
    NodeHolder: (
        # A compare-and-set on the single row: see NodeHolder.
        _state(
            "node_holder",
            _fields(NodeHolder),
            ("id",),
            "node_holder.token = excluded.token OR node_holder.token = excluded.replaces",
        ),
    ),
    NodeReleased: (_Statement("node_holder", "DELETE FROM node_holder WHERE token = ?"),),
    Notification: (_history("notifications", _fields(Notification)),),
    PnlSnapshot: (
        _state("pnl", _fields(PnlSnapshot), ("id",), "excluded.ts_event >= pnl.ts_event"),
    ),
    BacktestStarted: _CLEAR_BACKTESTS,
    NodeStarted: (*_CLEAR_BACKTESTS, _Statement("pnl", "DELETE FROM pnl")),
}


def _encode(value: Any) -> Any:
    if isinstance(value, dict | tuple):
        return msgspec.json.encode(value).decode()
    return value


_WITH_BOOL = (DriftObservation, TradingStateRecord)
"""Records with a boolean field: stored as 1/0 (SQLite has no boolean; PostgreSQL's
``BIGINT`` column takes no ``bool``)."""


def row(record: Record) -> tuple:
    """``record``'s values in column order, dicts and tuples as JSON text, booleans as 1/0."""
    values = msgspec.structs.astuple(record)
    if isinstance(record, _WITH_JSON):
        return tuple(_encode(v) for v in values)
    if isinstance(record, _WITH_BOOL):
        return tuple(int(v) if type(v) is bool else v for v in values)
    return values


@dataclass(frozen=True)
class Step:
    """One ``executemany``: a statement and its rows."""

    table: str
    sql: str
    rows: list[tuple]


_BARRIERS = (BacktestStarted, NodeStarted, NodeReleased)
"""Records that delete rather than write."""
_KEYED_BARRIERS = (NodeReleased,)
"""Barriers whose deletion names a key (the others take no parameter)."""


def plan(records: Iterable[Record]) -> list[Step]:
    """The statements that write ``records``, grouped by type in the order types first appear.

    Records keep their order within a type, which is all that matters: types go to different
    tables, and an upsert's newer-than guard settles the order within a table. The exceptions
    are the deleting records (``BacktestStarted``, ``NodeStarted``, ``NodeReleased``), barriers:
    what came before one is written before its deletions, what came after, after them.
    """
    steps: list[Step] = []
    by_type: dict[type, list[tuple]] = {}
    for record in records:
        record_type = type(record)
        if record_type not in _STATEMENTS:
            raise TypeError(f"not an OMS record: {record_type.__name__}")
        if record_type in _BARRIERS:
            steps += _grouped(by_type)
            by_type = {}
            rows = [row(record)] if record_type in _KEYED_BARRIERS else [()]
            steps += [Step(s.table, s.sql, rows) for s in _STATEMENTS[record_type]]
        else:
            by_type.setdefault(record_type, []).append(row(record))
    return steps + _grouped(by_type)


def _grouped(by_type: dict[type, list[tuple]]) -> list[Step]:
    return [
        Step(statement.table, statement.sql, _winners(record_type, statement, rows))
        for record_type, rows in by_type.items()
        for statement in _STATEMENTS[record_type]
    ]


def _winners(record_type: type, statement: _Statement, rows: list[tuple]) -> list[tuple]:
    # The rows a state table's upsert would keep, one per key, as applying them one by one
    # in order would leave it: the best rank, the first or the last of equals by the guard.
    latest = statement.latest
    if latest is None or len(rows) < 2:
        return rows
    fields = _fields(record_type)
    key_at = [fields.index(name) for name in latest.key]
    rank_at = [fields.index(name) for name in latest.rank]
    chosen: dict[tuple, tuple] = {}
    for values in rows:
        key = tuple(values[i] for i in key_at)
        held = chosen.get(key)
        if held is None:
            chosen[key] = values
            continue
        rank = tuple(values[i] for i in rank_at)
        held_rank = tuple(held[i] for i in rank_at)
        if rank > held_rank or (latest.ties_to_later and rank == held_rank):
            chosen[key] = values
    return list(chosen.values())


def select_columns(record_type: type[msgspec.Struct]) -> str:
    """The column list that reads ``record_type`` back (for ``decode``)."""
    return ", ".join(_fields(record_type))


def decode[T: msgspec.Struct](record_type: type[T], values: Sequence[Any]) -> T:
    """A row read with ``select_columns(record_type)`` as a record."""
    fields = _fields(record_type)
    data = {
        name: msgspec.json.decode(value) if name in _JSON_FIELDS and value is not None else value
        for name, value in zip(fields, values, strict=True)
    }
    # Lax: SQLite gives 0/1 for booleans.
    return msgspec.convert(data, record_type, strict=False)


def is_record(value: object) -> bool:
    """Whether ``value`` is one of the records the OMS stores."""
    return type(value) in _STATEMENTS
