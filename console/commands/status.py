"""``trade-console status [--json]``: the desk's health, counts and last alerts, no dashboard.

For a second shell and for scripts. It shows what the dashboard's header and Health pane show
(both come from ``core.oms.health.collect_health``), read from the OMS database the config names.
The database is opened read-only: status never creates, migrates or writes it, and in WAL mode
it neither waits for the node nor makes the node wait. It imports neither Nautilus nor Textual,
so it answers in a fraction of a second.

The database's integrity is not checked first (SQLite's quick_check reads the whole file, too
slow to run every few seconds from a monitoring script); a damaged page the reads meet is still
reported, as the OMS's one-line error.

Exit codes, for a cron job or a monitoring probe:

- 0: the state was printed and nothing is DOWN (a node runs, or none is expected: none ever ran
  on this OMS, or the last one stopped cleanly);
- 3: the state was printed and something is DOWN: the node stopped beating without a clean stop
  (its heartbeat is older than ``[console] down_after_secs``), or a part of it (the target
  watcher, an external venue's poller...) or another component reports DOWN;
- 2: one line on stderr, nothing printed: it could not be read (no database yet, a database from
  a newer version or not yet migrated, a corrupt file, a bad config).

A node found DOWN is also written to the OMS as its one CRITICAL ``node_down`` alert, if no
console wrote it first (the one write status makes: by the alert's id, never twice per death).

``--json`` prints one object. Its keys are stable: later versions may add keys, never rename or
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
``equity``          the node's equity (number), or null
``pnl``             the node's marks and PnL, session and UTC day, by instrument, or null
                    (``console.commands.status_pnl`` lists its keys)
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

import argparse
import asyncio
import json
import logging
import os
import socket
import time
from dataclasses import dataclass

from console.commands.status_pnl import iso as _iso
from console.commands.status_pnl import pnl_json, pnl_lines
from core.config import load_config
from core.errors import bounded
from core.oms import AuditEntry, NodeHolder, OmsError, OmsStore, PnlSnapshot, RiskAlert
from core.oms.health import (
    DOWN_AFTER_S,
    STALE_AFTER_S,
    Health,
    collect_health,
    node_down_alert,
)
from core.oms.node_holder import describe_holder, holder_gone

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


EXIT_DOWN = 3
"""``status``'s exit code when the node or any component is DOWN."""


def run_status(args: argparse.Namespace) -> int:
    """Print the desk's status (as JSON with ``--json``); see the module docstring."""
    config = load_config(getattr(args, "config", None))
    console = config.console
    report = asyncio.run(
        read_status(
            config.oms.database,
            now_ns=time.time_ns(),
            stale_after_s=console.stale_after_secs,
            down_after_s=console.down_after_secs,
        )
    )
    if args.json:
        print(json.dumps(to_json(report), ensure_ascii=False))
    else:
        print(render_text(report))
    return EXIT_DOWN if report.health.anything_down else 0


async def read_status(
    database: str,
    *,
    now_ns: int,
    stale_after_s: float = STALE_AFTER_S,
    down_after_s: float = DOWN_AFTER_S,
) -> StatusReport:
    """Read the status from the OMS at ``database`` without writing to it.

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
                pid=os.getpid(),
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


def _holder_text(report: StatusReport) -> str:
    if report.holder is None:
        return "none"
    text = describe_holder(report.holder)
    if report.detached is not None:
        at = _iso(report.detached.ts, readable=True)
        text = f"detached {text}, headless since {at} ({report.detached.reason})"
    if report.holder_gone is not None:
        text = f"{text}, gone ({report.holder_gone}): the next node takes over"
    return text


def render_text(report: StatusReport) -> str:
    """The report for a person: one fact a line, in the dashboard's words."""
    health = report.health
    counts = report.counts
    equity = "-" if health.equity is None else f"{health.equity:,.2f}"
    width = max((len(c.name) for c in health.components), default=12)  # a node's parts too
    lines = [
        f"OMS {report.database} (schema v{report.schema_version}) at "
        f"{_iso(health.as_of_ns, readable=True)}",
        f"mode           {health.mode}",
        f"venues         {', '.join(health.venues) or '-'}",
        f"node           {health.node_state}",
        f"held by        {_holder_text(report)}",
        f"trading        {health.trading_state}",
        f"equity         {equity}",
        *pnl_lines(report.pnl, node_running=health.equity is not None),
        "",
        "health",
        *(f"  {c.name:<{width}} {c.state:<5} {c.detail}" for c in health.components),
        "",
        "counts",
        f"  orders       {counts['orders']} ({counts['open_orders']} open)",
        f"  fills        {counts['fills']}",
        f"  positions    {counts['positions']} ({counts['open_positions']} open)",
        f"  alerts       {counts['alerts']}",
        f"  uploads      {counts['uploads_queued']} queued, {counts['uploads_failed']} failed",
        f"  runs         {counts['runs']}",
        "",
        f"last {LAST_ALERTS} alerts",
    ]
    lines += [
        f"  {_iso(a.ts_event, readable=True)}  {a.severity:<8} {a.rule}: {_one_line(a.message)}"
        for a in report.alerts
    ] or ["  none"]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    # Bounded and escaped again here: an OMS written before alerts were may hold raw text.
    return bounded(" ".join(text.split()))
