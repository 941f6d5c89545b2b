"""The kill switch's operator side: change the desk's trading state, audited, from anywhere.

Nothing here reaches into a node. A change is two records in the OMS: a ``TradingStateRecord``
(the latest is the state in force; a node watches the table and applies it, a node started
later comes up in it) and an ``AuditEntry`` saying who, when and why. So the console's ``k``
screen, ``trade-console kill`` from a second shell and the node's own automatic triggers all
take the same path, and a kill works whether or not a node runs.

Several processes may change the state at once (two operators' shells, the node tripping a
loss limit). Every change is written and audited; the one with the latest ``ts_event`` is in
force. Timestamps are strictly increasing within a process (per database) and never behind the
state already in force, so a change made after reading the state overrides it even if another
process's clock ran ahead. Two processes that stamp the same ns for the same state and actor
would meet on the table's primary key, where the second row is silently ignored: each change
is therefore read back after its commit and, if another row took its key, written again one
ns after the latest.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from core.errors import DataError
from core.oms import TRADING_STATES, AuditEntry, OmsError, OmsStore, TradingStateRecord
from core.oms.events import TRADING_STATE_SOURCES

NODE_LISTENING_SECS = 5.0
"""A node whose heartbeat is younger than this watches the OMS and applies a change at once
(the same limit after which ``core.oms.health`` calls a heartbeat stale)."""
NODE_APPLY_NOTE = "the node applies it within ~50 ms"
"""What a change means with a node listening: it polls the table every 20 ms."""
MAX_REASON_CHARS = 500
_MAX_WRITES = 8
"""Attempts to find a free key: each retry moves one ns past every row seen, so two are
enough unless several processes keep landing on the same instants."""
_NOT_LISTENING = ("STOPPED",)
"""Heartbeat states of a node that no longer applies changes (it wrote its last beat)."""

_clock_lock = threading.Lock()
_last_ns: dict[str, int] = {}
"""The last stamp this process gave a change, per OMS database."""


@dataclass(frozen=True)
class StateRequest:
    """A change an operator asked for (the ``k`` screen's answer, a command line's options)."""

    state: str
    """ACTIVE, REDUCING or HALTED."""
    reason: str
    flatten: bool = False
    """With HALTED: cancel everything, close every position through the risk checks, halt."""

    @property
    def action(self) -> str:
        """The audit log's name for this change."""
        return audit_action(self.state, self.flatten)

    @property
    def label(self) -> str:
        """The state as the operator reads it: ``HALTED (flatten)`` for a flatten."""
        return state_label(self.state, self.flatten)


@dataclass(frozen=True)
class TradingStateView:
    """What is in force, and whether a node is there to apply it: for the operator's messages."""

    record: TradingStateRecord | None
    """The latest change; None when the state was never set (ACTIVE)."""
    node_state: str | None
    """The node's last heartbeat state (RUNNING, ...); None when no node ever wrote one."""
    heartbeat_age_secs: float | None
    """Age of the node's last heartbeat; None when no node ever wrote one."""

    @property
    def state(self) -> str:
        """The trading state in force."""
        return "ACTIVE" if self.record is None else self.record.state

    @property
    def node_listening(self) -> bool:
        """A node runs and watches the OMS: a change reaches it within one poll."""
        return (
            self.heartbeat_age_secs is not None
            and self.heartbeat_age_secs < NODE_LISTENING_SECS
            and self.node_state not in _NOT_LISTENING
        )


def audit_action(state: str, flatten: bool = False) -> str:
    """kill, flatten, reduce or rearm: the audit log's action for a change to ``state``."""
    if state == "HALTED":
        return "flatten" if flatten else "kill"
    return "reduce" if state == "REDUCING" else "rearm"


def state_label(state: str, flatten: bool = False) -> str:
    """``state``, with `` (flatten)`` when the halt also closes every position."""
    return f"{state} (flatten)" if flatten and state == "HALTED" else state


def check_request(state: str, actor: str, reason: str, *, flatten: bool = False) -> StateRequest:
    """The request, with its reason on one line, or the one-line error an operator must fix.

    Called before anything is opened or written, so that a refused command leaves no trace.

    Raises
    ------
    DataError
        An unknown state, flatten with a state other than HALTED, an empty actor, an empty or
        overlong reason.
    """
    if state not in TRADING_STATES:
        raise DataError(f"{state!r} is not one of {', '.join(TRADING_STATES)}", "state")
    if flatten and state != "HALTED":
        raise DataError(
            f"flatten goes with HALTED (close every position, then halt), not with {state}",
            "flatten",
        )
    if not actor.strip():
        raise DataError("empty: the audit log must say who changed the trading state", "actor")
    # The reason is shown in one line everywhere (audit pane, alerts, this module's messages).
    text = " ".join(reason.split())
    if not text:
        raise DataError(
            "empty: say why the trading state changes (it goes to the audit log)", "reason"
        )
    if len(text) > MAX_REASON_CHARS:
        raise DataError(f"{len(text)} characters, at most {MAX_REASON_CHARS}", "reason")
    return StateRequest(state=state, reason=text, flatten=flatten)


async def change_trading_state(
    store: OmsStore,
    state: str,
    actor: str,
    reason: str,
    *,
    flatten: bool = False,
    now_ns: int | None = None,
    source: str | None = None,
) -> TradingStateRecord:
    """Record that ``actor`` moved trading to ``state`` because of ``reason``, and audit it.

    The change is committed (durable) when this returns; a node listening applies it within
    one poll. ``now_ns`` (default: the wall clock) is a floor, not the exact stamp: the record
    is stamped after every change this process made and after the state in force, so that it
    takes over from both. ``source`` (console, cli, or auto for the node's own risk rules) and
    this machine's name are kept with the record and in the audit details: the header, the
    kill switch and ``status`` say who changed the state, from where (``core.oms.state_origin``).

    Returns
    -------
    TradingStateRecord
        The record in force once this change is committed: this one, unless another process
        wrote a later one meanwhile (its change wins; both stay in the history and the audit).

    Raises
    ------
    DataError
        A bad request (see ``check_request``).
    OmsError
        The OMS cannot be written (read-only store, disk refusing).
    ValueError
        ``source`` is not one of ``TRADING_STATE_SOURCES`` (a programming error).
    """
    request = check_request(state, actor, reason, flatten=flatten)
    if source is not None and source not in TRADING_STATE_SOURCES:
        raise ValueError(f"source: {source!r} is not one of {', '.join(TRADING_STATE_SOURCES)}")
    wanted = time.time_ns() if now_ns is None else now_ns
    before = await read_trading_state(store, now_ns=wanted)
    floor = 0 if before.record is None else before.record.ts_event + 1
    record = provisional_record(request, actor, source, _stamp(store.path, wanted, floor))
    record = await _write(store, record)
    details: dict[str, Any] = {
        "state": request.state,
        "flatten": request.flatten,
        "previous": before.state,
        "ts_event": record.ts_event,
        "node_running": before.node_listening,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    if source is not None:
        details["source"] = source
    # Audited once the record has its final stamp (a retry moves it), so an audit row and its
    # state change line up; the two commits are ~1 ms apart.
    store.submit(
        AuditEntry(
            entry_id=uuid.uuid4().hex,
            ts=record.ts_event,
            actor=actor,
            action=request.action,
            reason=request.reason,
            details=details,
        )
    )
    await store.flush()
    in_force = await store.trading_state()
    return record if in_force is None else in_force


async def read_trading_state(store: OmsStore, *, now_ns: int | None = None) -> TradingStateView:
    """The state in force and the node's heartbeat as the OMS has them at ``now_ns``.

    Raises
    ------
    OmsError
        The OMS cannot be read.
    """
    now = time.time_ns() if now_ns is None else now_ns
    record = await store.trading_state()
    status = await store.node_status()
    if status is None:
        return TradingStateView(record, None, None)
    age = max(now - status.ts_event, 0) / 1e9  # a clock a little ahead is not "stale"
    return TradingStateView(record, status.node_state, age)


def outcome_message(request: StateRequest, in_force: TradingStateRecord, listening: bool) -> str:
    """One line for the operator: the state now in force, and what happens with it next."""
    label = state_label(in_force.state, in_force.flatten)
    if listening:
        next_step = NODE_APPLY_NOTE
    else:
        next_step = f"no node is running: recorded; a node started later comes up {in_force.state}"
    if label != request.label:
        return (
            f"{label} in force, not {request.label}: a later change by {in_force.actor} wins "
            f"({in_force.reason}); {next_step}"
        )
    return f"{label} in force: {next_step}"


def provisional_record(
    request: StateRequest, actor: str, source: str | None, now_ns: int
) -> TradingStateRecord:
    """``request`` as ``change_trading_state`` will record it (its stamp may still move): for a
    node that applies a console's kill before the record is written (``NodeSession.hold``), so
    that its alert says who and why all the same."""
    return TradingStateRecord(
        ts_event=now_ns,
        state=request.state,
        actor=actor,
        reason=request.reason,
        flatten=request.flatten,
        source=source,
        host=socket.gethostname(),
    )


def operator_name() -> str:
    """Who is at the keyboard, for the audit log (the login name; ``operator`` if unknown)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such user entry in a container
        return "operator"


def _stamp(database: str, wanted_ns: int, floor_ns: int) -> int:
    # Strictly increasing in this process: two changes in one ns (kill, then re-arm at once,
    # from two tasks that both read the state before either wrote) keep the order they were
    # asked in, and the later one is in force.
    with _clock_lock:
        stamp = max(wanted_ns, floor_ns, _last_ns.get(database, 0) + 1)
        _last_ns[database] = stamp
        return stamp


async def _write(store: OmsStore, record: TradingStateRecord) -> TradingStateRecord:
    for _ in range(_MAX_WRITES):
        store.submit(record)
        await store.flush()
        taken = await _row_at_key(store, record)
        if taken == record:
            return record
        # Another process's change holds this key (same ns, state and actor): its row stays,
        # and this one goes one ns after everything seen.
        latest = await store.trading_state()
        floor = record.ts_event + 1 if latest is None else max(record.ts_event, latest.ts_event) + 1
        record = msgspec.structs.replace(record, ts_event=_stamp(store.path, floor, floor))
    raise OmsError(
        f"cannot record the trading state: no free timestamp in {_MAX_WRITES} attempts "
        "(other processes keep writing the same instants)",
        store.path,
    )


async def _row_at_key(store: OmsStore, record: TradingStateRecord) -> TradingStateRecord | None:
    # History newest first: the row sits among the newest unless many changes came after it.
    key = (record.ts_event, record.state, record.actor)
    limit = 16
    while True:
        rows = await store.trading_state_history(limit=limit)
        for row in rows:
            if (row.ts_event, row.state, row.actor) == key:
                return row
            if row.ts_event < record.ts_event:
                return None
        if len(rows) < limit:
            return None
        limit *= 4
