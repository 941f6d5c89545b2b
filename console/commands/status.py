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

``--json`` prints ``core.oms.status_report.to_json``'s object (its docstring lists the keys,
which are stable: later versions may add keys, never rename or remove one); the node's
``/healthz`` serves the same object (``core.monitor``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from core.config import load_config
from core.errors import bounded
from core.oms.health import Health
from core.oms.node_holder import describe_holder
from core.oms.state_origin import full_text
from core.oms.status_pnl import iso as _iso
from core.oms.status_pnl import pnl_lines
from core.oms.status_report import (
    LAST_ALERTS,
    StatusReport,
    read_status,
    to_json,
)

__all__ = ["EXIT_DOWN", "StatusReport", "read_status", "run_status", "to_json"]

EXIT_DOWN = 3
"""``status``'s exit code when the node or any component is DOWN."""


def run_status(args: argparse.Namespace) -> int:
    """Print the desk's status (as JSON with ``--json``); see the module docstring."""
    config = load_config(getattr(args, "config", None))
    console = config.console
    report = asyncio.run(
        read_status(
            config.oms.location,
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
        f"trading        {_trading_text(health)}",
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


def _trading_text(health: Health) -> str:
    # The state, with who set it, from where, when and why (the health's "trading" line says
    # it too when the node has not applied the latest change yet).
    origin = health.trading_origin
    return health.trading_state if origin is None else full_text(origin)


def _one_line(text: str) -> str:
    # Bounded and escaped again here: an OMS written before alerts were may hold raw text.
    return bounded(" ".join(text.split()))
