"""The body of ``trade-console status`` and of the node's ``/healthz``: one builder, so a probe
and a person read the same thing.

``read_status`` reads the OMS read-only at one moment (and writes the one ``node_down`` alert a
death calls for, if no console wrote it first); ``to_json`` is the object ``status --json``
prints and ``/healthz`` serves. Its keys are stable: later versions may add keys, never rename or
remove one.

==================  =========================================================================
key                 value
==================  =========================================================================
``database``        absolute path of the OMS database file
``schema_version``  its schema version (int)
``as_of``           when this was read, ISO 8601 UTC (``...Z``); ``as_of_ns`` the same in ns
``mode``            LIVE, SHADOW, or BACKTEST when no node runs
``venues``          the node's venues (``[]`` when no node runs)
``node_state``      STARTING, RUNNING, STOPPING, DEGRADED; STALE or DOWN when the node stopped
                    beating without a clean stop; or ``NO NODE``
``node_holder``     the node that holds the OMS (one node per OMS), or null: ``text``
                    (``node pid N on HOST since T (user U)``), ``pid``, ``host``, ``user``,
                    ``since`` (ISO UTC), ``since_ns``, and ``gone``: null while it may run, else
                    why it is gone (a node that died; the next node takes over); ``detached``:
                    null, or ``{"at", "reason"}`` when its console left it running headless
``trading_state``   ACTIVE, REDUCING or HALTED (the persisted one when no node runs)
``trading_change``  the recorded change in force, or null when nobody ever changed it: ``state``,
                    ``flatten``, ``actor`` (an OS user, or ``auto: drawdown_limit``...),
                    ``host``, ``source`` (``console``, ``cli`` for a shell, ``auto``; host and
                    source null on changes recorded before schema v11), ``reason``, ``at``
                    (ISO UTC), ``at_ns``, ``short`` (``HALTED by ops@box 14:02Z``, as the
                    header says it) and ``text`` (who, from where, when and why)
``equity``          the node's equity (number), or null
``pnl``             the node's marks and PnL, session and UTC day, by instrument, or null
                    (``core.oms.status_pnl`` lists its keys)
``components``      ``{name: {"state": OK|WARN|DOWN|NONE, "detail": str}}`` for ``node``,
                    ``data feed``, ``venue``, each part of a running node (``target
                    watcher``, ``state watch``, ``poller NAME``, ``OMS writer``), ``GCS``
                    and ``OMS``
``counts``          ints: ``orders``, ``open_orders``, ``fills``, ``positions``,
                    ``open_positions``, ``alerts``, ``uploads_queued`` (queued or uploading),
                    ``uploads_failed``, ``runs``
``last_alerts``     the latest 5 risk alerts, newest first: ``ts`` (ISO UTC), ``ts_event``
                    (ns), ``severity``, ``rule``, ``message``, ``instrument_id`` (or null)
==================  =========================================================================
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from core.oms import AuditEntry, NodeHolder, OmsError, OmsStore, PnlSnapshot, RiskAlert
from core.oms.health import (
    DOWN_AFTER_S,
    STALE_AFTER_S,
    Health,
    collect_health,
    node_down_alert,
)
from core.oms.node_holder import describe_holder, holder_gone
from core.oms.state_origin import as_json
from core.oms.status_pnl import iso as _iso
from core.oms.status_pnl import pnl_json

_log = logging.getLogger(__name__)

LAST_ALERTS = 5
DETACH_SEARCH = 200
"""How many recent audit entries are searched for the holder's detach."""


@dataclass(frozen=True)
class StatusReport:
    """Everything ``status`` prints, read at one moment."""

    database: str
    schema_version: int
    health: Health
    counts: dict[str, int]
    alerts: list[RiskAlert]
    holder: NodeHolder | None = None
    """The node holding the OMS, as its row says."""
    holder_gone: str | None = None
    """Why that holder is gone (it died); None while it may run."""
    detached: AuditEntry | None = None
    """The holder's console left it running headless (the ``detach`` audit entry); None when
    it runs in a console, headless from the start, or there is no holder."""
    pnl: PnlSnapshot | None = None
    """The node's latest marks and PnL (the last session's when no node runs)."""


async def read_status(
    database: str,
    *,
    now_ns: int,
    stale_after_s: float = STALE_AFTER_S,
    down_after_s: float = DOWN_AFTER_S,
    in_node: bool = False,
) -> StatusReport:
    """Read the status from the OMS at ``database`` without writing to it.

    ``in_node``: read by the node that holds the OMS (its ``/healthz``), whose own pid in the
    holder's row is itself, not an earlier node of the same process that did not let go.

    Raises
    ------
    OmsError
        The database is missing, from a newer version, not yet migrated, or unreadable.
    """
    async with await OmsStore.open(database, read_only=True, check_integrity=False) as store:
        # Read before the health, which reports a failing read as a DOWN component: here
        # such a database is an error the operator must see as such.
        schema_version = await store.schema_version()
        table_counts = await store.counts()
        alerts = await store.alerts(limit=LAST_ALERTS)
        pnl = await store.pnl()
        holder = await store.node_holder()
        gone = detached = None
        if holder is not None:
            gone = holder_gone(
                holder,
                await store.node_status(),
                now_ns=now_ns,
                host=socket.gethostname(),
                pid=-1 if in_node else os.getpid(),
            )
            detached = _detach_of(holder, await store.audit(limit=DETACH_SEARCH))
        health = await collect_health(
            store, now_ns=now_ns, stale_after_s=stale_after_s, down_after_s=down_after_s
        )
        oms = health.component("OMS")
        if oms.state == "DOWN":
            raise OmsError(oms.detail)
        path = store.path
    death = node_down_alert(health)
    if death is not None and death.alert_id not in {alert.alert_id for alert in alerts}:
        await _raise_alert(path, death)
        alerts = [death, *alerts][:LAST_ALERTS]
    return StatusReport(
        path, schema_version, health, _counts(table_counts), alerts, holder, gone, detached, pnl
    )


def _detach_of(holder: NodeHolder, audit: list[AuditEntry]) -> AuditEntry | None:
    # The holder's own detach: same process, after it took the OMS (a pid is reused only by a
    # later holding, which started after any earlier detach).
    for entry in audit:
        details = entry.details or {}
        if (
            entry.action == "detach"
            and details.get("pid") == holder.pid
            and details.get("host") == holder.host
            and entry.ts >= holder.started_at
        ):
            return entry
    return None


async def _raise_alert(database: str, alert: RiskAlert) -> None:
    # Written on a connection of its own, after the read-only one is closed: the database is
    # already at the current schema (the read checked), so opening it writable migrates and
    # creates nothing. A failure to write is logged, never a reason to hide the status.
    try:
        async with await OmsStore.open(database, check_integrity=False) as store:
            store.submit(alert)
            await store.flush()
    except OmsError as error:
        _log.warning("could not record the node_down alert in %s: %s", database, error)


def _counts(table: dict[str, int]) -> dict[str, int]:
    return {
        "orders": table["orders"],
        "open_orders": table["open_orders"],
        "fills": table["fills"],
        "positions": table["positions"],
        "open_positions": table["open_positions"],
        "alerts": table["risk_alerts"],
        "uploads_queued": table["active_uploads"] - table["failed_uploads"],
        "uploads_failed": table["failed_uploads"],
        "runs": table["runs"],
    }


def to_json(report: StatusReport) -> dict:
    """The ``--json`` object (keys in the module docstring)."""
    health = report.health
    return {
        "database": report.database,
        "schema_version": report.schema_version,
        "as_of": _iso(health.as_of_ns),
        "as_of_ns": health.as_of_ns,
        "mode": health.mode,
        "venues": list(health.venues),
        "node_state": health.node_state,
        "node_holder": _holder_json(report),
        "trading_state": health.trading_state,
        "trading_change": None if health.trading_change is None else as_json(health.trading_change),
        "equity": health.equity,
        "pnl": pnl_json(report.pnl),
        "components": {c.name: {"state": c.state, "detail": c.detail} for c in health.components},
        "counts": report.counts,
        "last_alerts": [
            {
                "ts": _iso(alert.ts_event),
                "ts_event": alert.ts_event,
                "severity": alert.severity,
                "rule": alert.rule,
                "message": alert.message,
                "instrument_id": alert.instrument_id,
            }
            for alert in report.alerts
        ],
    }


def _holder_json(report: StatusReport) -> dict | None:
    holder = report.holder
    if holder is None:
        return None
    return {
        "text": describe_holder(holder),
        "pid": holder.pid,
        "host": holder.host,
        "user": holder.os_user,
        "since": _iso(holder.started_at),
        "since_ns": holder.started_at,
        "gone": report.holder_gone,
        "detached": None
        if report.detached is None
        else {"at": _iso(report.detached.ts), "reason": report.detached.reason},
    }
