"""The desk's health in one value, read from the OMS: what runs, in which state, and what is wrong.

The Health pane, the header and ``trade-console status`` all show this, so they cannot disagree.
Everything comes from the OMS database, never from the node directly (data flows node -> OMS ->
screens): the node's heartbeat row says what the node is doing, and its age says whether it is
alive. A node that stopped cleanly wrote a last STOPPED heartbeat: then there is no node (NO
NODE). One that stopped beating without it is not "no node": it is silent, and the desk must be
told. Its heartbeat older than ``stale_after_s`` shows ``STALE``; older than ``down_after_s``,
``DOWN``, and ``node_down_alert`` is the one CRITICAL alert for that death (its id is the dead
heartbeat's time, so a console and ``status`` noticing it both write one row). Each part of the
node (target watcher, external venues, the OMS writer...) reports itself in the heartbeat and
is a component line of its own: a part whose task ended is DOWN with its error.

Component states: ``OK``, ``WARN`` (working, but look), ``DOWN`` (not working) and ``NONE`` (not
there to judge: no node, no uploads yet).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from core.errors import one_line
from core.oms import NodeStatus, OmsError, OmsStore, PnlSnapshot, RiskAlert, TradingStateRecord
from core.oms.state_origin import full_text

COMPONENT_STATES = ("OK", "WARN", "DOWN", "NONE")
NO_NODE = "NO NODE"
"""``Health.node_state`` when no node runs (none ever beat, or the last one stopped cleanly)."""
NODE_STALE = "STALE"
"""``Health.node_state`` when the node's heartbeat is late (``stale_after_s``)."""
NODE_DOWN = "DOWN"
"""``Health.node_state`` when the node stopped beating without a clean stop (``down_after_s``)."""
STALE_AFTER_S = 3.0
"""Default ``[console] stale_after_secs``."""
DOWN_AFTER_S = 10.0
"""Default ``[console] down_after_secs``: a node silent longer is DOWN, and another node may
take over the OMS it held (``core.oms.node_holder``). Well above the stale limit: a node whose
loop is merely busy for a few seconds must not lose its OMS."""
UNKNOWN = "UNKNOWN"
"""``Health.trading_state`` when the OMS cannot be read: claiming ACTIVE could hide a kill."""
BACKLOG_WARN = 10_000
"""Records queued for the OMS writer beyond which the OMS component warns: it falls behind."""

NODE_STALE_AFTER_S = 5.0
"""For a backtest deciding whether a node writes this OMS (``node_is_running``): a heartbeat
older than this means no node does (a running node beats each second)."""

_NODE_STATE_HEALTH = {
    "RUNNING": "OK",
    "STARTING": "WARN",
    "STOPPING": "WARN",
    "DEGRADED": "WARN",
    "STOPPED": "DOWN",
}
_LINK_HEALTH = {"OK": "OK", "STALE": "WARN", "DOWN": "DOWN"}


@dataclass(frozen=True)
class ComponentHealth:
    """One line of the Health pane."""

    name: str
    """node, data feed, venue, GCS or OMS."""
    state: str
    """OK, WARN, DOWN or NONE."""
    detail: str


@dataclass(frozen=True)
class Health:
    """What the header and the Health pane show."""

    mode: str
    """LIVE or SHADOW while a node runs; BACKTEST when none does."""
    venues: tuple[str, ...]
    """The node's venues; empty when no node runs."""
    node_state: str
    """The node's state (RUNNING, DEGRADED, ...) or ``NO NODE``."""
    trading_state: str
    """ACTIVE, REDUCING or HALTED: the node's while it runs, else the persisted one (ACTIVE
    when never set); ``UNKNOWN`` when the OMS cannot be read."""
    equity: float | None
    """The node's equity; None when no node runs (or it is silent: the figure would be old)."""
    components: tuple[ComponentHealth, ...]
    """node, data feed, venue, the node's parts, trading (who set the trading state, once
    anyone did), GCS and OMS, in that order."""
    as_of_ns: int
    last_beat_ns: int | None = None
    """When the node last beat (None: never); with ``DOWN``, the dead heartbeat."""
    pnl: PnlSnapshot | None = None
    """The running node's marks and PnL (``core.oms.pnl_record``); None when no node runs
    or it is silent (as ``equity``), or before its first mark."""
    trading_change: TradingStateRecord | None = None
    """The recorded change in force: who set the trading state, from where, when and why
    (``core.oms.state_origin``); None when it was never changed (ACTIVE) or not read."""

    @property
    def trading_origin(self) -> TradingStateRecord | None:
        """``trading_change`` when it is the state shown (a node may not have applied a newer
        change yet, or applies a flatten's REDUCING): the header's ``by ...`` is never
        another state's."""
        change = self.trading_change
        return change if change is not None and change.state == self.trading_state else None

    @property
    def node_silent(self) -> bool:
        """The node stopped beating without a clean stop (STALE or DOWN)."""
        return self.node_state in (NODE_STALE, NODE_DOWN)

    @property
    def anything_down(self) -> bool:
        """The node is DOWN or a component is: what ``status`` exits 3 for."""
        return self.node_state == NODE_DOWN or any(c.state == "DOWN" for c in self.components)

    def component(self, name: str) -> ComponentHealth:
        """The component called ``name`` (KeyError if there is none)."""
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)


def node_age_s(status: NodeStatus | None, now_ns: int) -> float | None:
    """Seconds since the node's heartbeat ``status``; None when no node ever beat.

    A clock a little ahead of ``now_ns`` counts as 0, not as stale.
    """
    return None if status is None else max(now_ns - status.ts_event, 0) / 1e9


def node_is_running(
    status: NodeStatus | None, now_ns: int, stale_after_s: float = NODE_STALE_AFTER_S
) -> bool:
    """Whether the heartbeat ``status`` says a node runs on this OMS at ``now_ns``."""
    age_s = node_age_s(status, now_ns)
    return age_s is not None and age_s <= stale_after_s


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, dead but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS): kill(0) is all we know
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


async def collect_health(
    store: OmsStore,
    *,
    now_ns: int,
    stale_after_s: float = STALE_AFTER_S,
    down_after_s: float = DOWN_AFTER_S,
) -> Health:
    """The desk's health as the OMS at ``store`` shows it at ``now_ns``.

    ``now_ns`` is passed in (not read from the clock) so the caller decides what "now" is: the
    console its wall clock, a test a fixed instant.

    A database that cannot be read does not raise: the OMS component is DOWN with the error,
    and the rest is unknown (NONE), because the screens must keep drawing.
    """
    try:
        status = await store.node_status()
        persisted = await store.trading_state()
        counts = await store.upload_counts()
        version = await store.schema_version()
        holder = await store.node_holder()
        size = await store.size_bytes()
    except OmsError as error:
        return _unreadable(one_line(error), now_ns)
    oms = (_gcs_component(counts), _oms_component(store, version, size))
    age_s = node_age_s(status, now_ns)
    if status is None or age_s is None or status.node_state == "STOPPED":
        return _without_node(_no_node_components(status, age_s), oms, persisted, now_ns)
    # The node's process on this host is gone (kill -9, a crash): DOWN now, not in 10 s.
    dead = holder is not None and _process_gone(holder.host, holder.pid)
    if age_s > stale_after_s or dead:
        gone = f"process {holder.pid} is gone" if dead and holder is not None else None
        return _silent(status, age_s, dead or age_s > down_after_s, oms, persisted, now_ns, gone)
    try:
        pnl = await store.pnl()
    except OmsError as error:
        return _unreadable(one_line(error), now_ns)
    return Health(
        mode=status.mode,
        venues=status.venues,
        node_state=status.node_state,
        trading_state=status.trading_state,
        equity=status.equity,
        components=(
            *_node_components(status, age_s),
            *_trading_component(status.trading_state, persisted),
            *oms,
        ),
        as_of_ns=now_ns,
        last_beat_ns=status.ts_event,
        pnl=pnl,
        trading_change=persisted,
    )


def node_down_alert(health: Health) -> RiskAlert | None:
    """The one CRITICAL alert for the death ``health`` shows; None while the node is not DOWN.

    Its id is the dead heartbeat's time: whoever notices first (a console, ``status``) writes
    it, and a second writer's copy is the same row (the OMS ignores a repeated id).
    """
    if health.node_state != NODE_DOWN or health.last_beat_ns is None:
        return None
    silent_s = max(health.as_of_ns - health.last_beat_ns, 0) / 1e9
    node = health.component("node").detail
    last = dt.datetime.fromtimestamp(health.last_beat_ns / 1e9, dt.UTC).strftime("%H:%M:%S UTC")
    if "is gone" in node:  # seen at once, by its pid: how long it was silent says nothing
        message = (
            f"NODE DOWN: the {health.mode} node's {node.rpartition('): ')[2]} (last heartbeat "
            f"{last}, no clean stop); nothing manages its orders"
        )
    else:
        message = (
            f"NODE DOWN: {health.mode} node silent for {silent_s:.0f} s (last heartbeat "
            f"{last}) without a clean stop: it died or hangs; nothing manages its orders"
        )
    return RiskAlert(
        alert_id=f"node_down:{health.last_beat_ns}",
        ts_event=health.as_of_ns,
        severity="CRITICAL",
        rule="node_down",
        message=message,
    )


def _without_node(
    node: tuple[ComponentHealth, ...],
    oms: tuple[ComponentHealth, ...],
    persisted: TradingStateRecord | None,
    now_ns: int,
) -> Health:
    state = "ACTIVE" if persisted is None else persisted.state
    return Health(
        mode="BACKTEST",
        venues=(),
        node_state=NO_NODE,
        trading_state=state,
        equity=None,
        components=(*node, *_trading_component(state, persisted), *oms),
        as_of_ns=now_ns,
        trading_change=persisted,
    )


def _trading_component(
    state: str, change: TradingStateRecord | None
) -> tuple[ComponentHealth, ...]:
    # Who set the trading state, from where, when and why: a line of its own once a change
    # was recorded (none before: nobody ever set it). Never DOWN: a halt is a decision, not a
    # failure, and `status` must not exit 3 for it.
    if change is None:
        return ()
    verdict = "OK" if state == "ACTIVE" else "WARN"
    if change.state == state:
        return (ComponentHealth("trading", verdict, full_text(change)),)
    return (
        ComponentHealth("trading", verdict, f"{state} in the node; recorded: {full_text(change)}"),
    )


def _node_components(status: NodeStatus, age_s: float) -> tuple[ComponentHealth, ...]:
    heartbeat = f"heartbeat {age_s:.0f}s ago"
    node_detail = f"{status.node_state}, {heartbeat}"
    if status.detail:
        node_detail = f"{node_detail}: {status.detail}"
    return (
        ComponentHealth("node", _NODE_STATE_HEALTH.get(status.node_state, "WARN"), node_detail),
        ComponentHealth("data feed", _LINK_HEALTH.get(status.data_feed, "WARN"), status.data_feed),
        ComponentHealth(
            "venue",
            _LINK_HEALTH.get(status.venue_connection, "WARN"),
            f"{', '.join(status.venues) or 'no venue'} {status.venue_connection}",
        ),
        *(
            ComponentHealth(name, state if state in COMPONENT_STATES else "WARN", detail)
            for name, state, detail in status.parts
        ),
    )


def _no_node_components(
    status: NodeStatus | None, age_s: float | None
) -> tuple[ComponentHealth, ...]:
    detail = "no node running"
    if status is not None and age_s is not None:
        detail = f"no node running (the last stopped cleanly {age_s:.0f}s ago)"
    return tuple(ComponentHealth(name, "NONE", detail) for name in ("node", "data feed", "venue"))


def _process_gone(host: str, pid: int) -> bool:
    # Only judged on the holder's own host, and never for this process (a console whose node
    # runs inside it reads its own holder row).
    return host == socket.gethostname() and pid != os.getpid() and not pid_alive(pid)


def _silent(
    status: NodeStatus,
    age_s: float,
    down: bool,
    oms: tuple[ComponentHealth, ...],
    persisted: TradingStateRecord | None,
    now_ns: int,
    gone: str | None = None,
) -> Health:
    # What the node last said is no longer known to hold: the node line says how long it has
    # been silent; the rest is unknown (NONE), not the last heartbeat's OK.
    verdict = gone or ("died or hangs" if down else "late")
    node = ComponentHealth(
        "node",
        "DOWN" if down else "WARN",
        f"{NODE_DOWN if down else NODE_STALE}: no heartbeat for {age_s:.0f}s "
        f"(last {status.node_state}): {verdict}",
    )
    unknown = tuple(
        ComponentHealth(name, "NONE", "unknown: the node is silent")
        for name in ("data feed", "venue")
    )
    state = "ACTIVE" if persisted is None else persisted.state
    return Health(
        mode=status.mode,
        venues=status.venues,
        node_state=NODE_DOWN if down else NODE_STALE,
        trading_state=state,
        equity=None,
        components=(node, *unknown, *_trading_component(state, persisted), *oms),
        as_of_ns=now_ns,
        last_beat_ns=status.ts_event,
        trading_change=persisted,
    )


def _gcs_component(counts: dict[str, int]) -> ComponentHealth:
    total = counts["uploads"]
    failed = counts["failed_uploads"]
    waiting = counts["active_uploads"] - failed  # queued or uploading
    done = total - counts["active_uploads"]
    if total == 0:
        return ComponentHealth("GCS", "NONE", "no uploads")
    if failed:
        return ComponentHealth("GCS", "WARN", f"{failed} failed, {waiting} queued")
    detail = f"{done} done" if waiting == 0 else f"{done} done, {waiting} queued"
    return ComponentHealth("GCS", "OK", detail)


def _oms_component(store: OmsStore, version: int, size: int) -> ComponentHealth:
    stats = store.stats
    detail = f"{store.path}, schema v{version}, {format_bytes(size)}"
    if stats.pending:
        detail = f"{detail}, {stats.pending} pending"
    if stats.last_error is not None:
        return ComponentHealth("OMS", "WARN", f"{detail}; {stats.last_error}")
    if stats.pending > BACKLOG_WARN:
        return ComponentHealth("OMS", "WARN", f"{detail} (the writer falls behind)")
    return ComponentHealth("OMS", "OK", detail)


def _unreadable(error: str, now_ns: int) -> Health:
    unknown = tuple(
        ComponentHealth(name, "NONE", "OMS unreadable")
        for name in ("node", "data feed", "venue", "GCS")
    )
    # Neither "no node" nor a mode: with the OMS unreadable (its server restarting) a node
    # may well be trading; the screen must not say otherwise.
    return Health(
        mode=UNKNOWN,
        venues=(),
        node_state=UNKNOWN,
        trading_state=UNKNOWN,
        equity=None,
        components=(*unknown, ComponentHealth("OMS", "DOWN", error)),
        as_of_ns=now_ns,
    )


def format_bytes(size: int) -> str:
    """``size`` for a person: 532 B, 48.0 KB, 1.2 MB, 3.4 GB."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
