"""Orders a node session left open when it ended: settled, so that no count says they still work.

A node killed with ``kill -9`` (or stopped while TWAP children still rested) leaves orders open
in the OMS. Nothing manages them any more: in SHADOW the sandbox that held them is gone with its
process (the next node's starts empty), so they exist nowhere; in LIVE they may still rest at the
venue, or have filled or been cancelled there meanwhile. Left open, every count lies (``status``'s
``open``, the Orders pane) and a kill says it cancels orders nobody holds.

So each node settles them (``NodeSession``):

- **SHADOW** (a replay or venue data, sandbox fills): at start, before the engine runs, every
  order the OMS holds open for this node's venues is an earlier session's; and at a clean stop,
  the session's own still open (the sandbox goes with the node). Both become ``ORPHANED`` with
  the reason ``session ended: ...``.
- **LIVE**: Nautilus's reconciliation (``LiveExecEngineConfig(reconciliation=True)``) asks the
  venue for its open orders as the node starts and brings each into the node's cache, under its
  client order id, with its events (which the OMS records). Once the node runs, an order the OMS
  holds open that the cache does not know was not reported by the venue: it is ``ORPHANED``
  too, with a reason saying its final state is not known here (look at the venue's history).
  One the venue reports open stays open and is the node's again (a kill cancels it). A node
  that did not connect settles nothing: without the venue's word, open is the honest answer.
  A clean stop settles nothing in LIVE: the orders rest at the venue, and the next start asks.

Settling appends one event to each order (``ORPHANED``, the next sequence; its history is kept),
one audit entry (``settle_orphans``) and one alert listing the first ``LISTED`` ids and the count.
Orders at ``[[external_venues]]`` are not touched: their poller reconciles them with the venue.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Sequence

import msgspec

from core.oms import AuditEntry, OmsStore, OrderEvent, RiskAlert
from core.oms.events import ORPHANED
from core.oms.state_origin import AUTO_PREFIX

LISTED = 10
"""How many order ids the alert and the audit entry name; the count says how many in all."""
RULE = "orphaned_orders"

SHADOW_START = (
    "session ended: left open by an earlier node session; the shadow sandbox that held it "
    "ended with that session"
)
SHADOW_STOP = "session ended: the node stopped, and the shadow sandbox that held it with it"
LIVE_START = (
    "session ended: left open by an earlier node session, and not open at the venue after "
    "reconciliation; its final state is not known here (see the venue's order history)"
)


def orphans_of(
    orders: Sequence[OrderEvent], venues: Collection[str], known: Callable[[str], bool]
) -> list[OrderEvent]:
    """The open ``orders`` on ``venues`` that ``known`` (the node's cache) does not hold."""
    return [
        order
        for order in orders
        if order.is_open
        and order.instrument_id.rsplit(".", 1)[-1] in venues
        and not known(order.client_order_id)
    ]


async def settle_orphans(
    store: OmsStore,
    venues: Collection[str],
    *,
    reason: str,
    when: str,
    mode: str,
    known: Callable[[str], bool] = lambda _: False,
    now_ns: Callable[[], int] = time.time_ns,
) -> list[OrderEvent]:
    """Close in ``store`` every open order of ``venues`` that ``known`` does not claim.

    ``when`` is ``start`` or ``stop`` (the audit's actor: ``auto: node start``); ``mode`` LIVE
    or SHADOW (a LIVE orphan's alert is an ERROR: money may be at stake). Committed when this
    returns; returns the orders' new state (empty: nothing to settle, nothing written).

    Raises
    ------
    OmsError
        The OMS cannot be read or written.
    """
    await store.flush()  # the session's own events first: an order that closed is not open
    orphans = orphans_of(await store.node_open_orders(), venues, known)
    if not orphans:
        return []
    now = now_ns()
    settlement = uuid.uuid4().hex[:12]
    settled = [
        msgspec.structs.replace(
            order,
            event_id=f"orphaned-{settlement}",
            event_type=ORPHANED,
            sequence=order.sequence + 1,
            ts_event=now,
            status=ORPHANED,
            reason=reason,
        )
        for order in orphans
    ]
    ids = [order.client_order_id for order in settled]
    listed = ", ".join(ids[:LISTED]) + (
        f" and {len(ids) - LISTED} more" if len(ids) > LISTED else ""
    )
    count = f"{len(ids)} order{'s' if len(ids) > 1 else ''}"
    store.submit_many(settled)
    store.submit(
        AuditEntry(
            entry_id=uuid.uuid4().hex,
            ts=now,
            actor=f"{AUTO_PREFIX}node {when}",
            action="settle_orphans",
            reason=reason,
            details={
                "count": len(ids),
                "orders": ids[:LISTED],
                "mode": mode,
                "venues": sorted(venues),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "os_user": _os_user(),
            },
        )
    )
    store.submit(
        RiskAlert(
            alert_id=f"{RULE}:{settlement}",
            ts_event=now,
            severity="ERROR" if mode == "LIVE" else "WARNING",
            rule=RULE,
            message=f"{count} settled as {ORPHANED} at node {when} ({reason}): {listed}",
            details={"count": len(ids), "orders": ids[:LISTED], "mode": mode},
        )
    )
    await store.flush()
    return settled


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
