"""The node that holds an OMS, as a person reads it, and whether it still runs.

Shared by the node taking the OMS (``core.live.lease``), the refusal a second node prints and
``trade-console status``, so all three name a holder the same way and agree on when it is gone.
Everything is judged from the OMS (the holder's row and the node's heartbeat), so that a node on
another host can judge it too; on the holder's own host its process is asked as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from core.oms.events import NodeHolder, NodeStatus
from core.oms.health import DOWN_AFTER_S, pid_alive


def describe_holder(holder: NodeHolder) -> str:
    """``node pid 4242 on desk-1 since 2026-01-05 09:30:00 UTC (user ops)``."""
    since = dt.datetime.fromtimestamp(holder.started_at / 1e9, dt.UTC)
    return (
        f"node pid {holder.pid} on {holder.host} since "
        f"{since.strftime('%Y-%m-%d %H:%M:%S UTC')} (user {holder.os_user})"
    )


def holder_gone(
    holder: NodeHolder,
    heartbeat: NodeStatus | None,
    *,
    now_ns: int,
    host: str,
    pid: int,
    down_after_s: float = DOWN_AFTER_S,
    alive: Callable[[int], bool] = pid_alive,
) -> str | None:
    """Why ``holder`` no longer runs, in a few words; None while it may still run.

    Gone: on this ``host``, its process is not running, or is this very process ``pid`` (an
    earlier node of it that did not let go); anywhere, nothing from it for ``down_after_s``:
    neither a heartbeat nor its start (a node taking the OMS beats only once started).
    """
    if holder.host == host:
        if holder.pid == pid:
            return "an earlier node of this same process did not let go of it"
        if not alive(holder.pid):
            return f"process {holder.pid} is gone"
    last = holder.started_at if heartbeat is None else max(holder.started_at, heartbeat.ts_event)
    silent_s = max(now_ns - last, 0) / 1e9
    if silent_s > down_after_s:
        return f"no heartbeat for {silent_s:.0f} s"
    return None
