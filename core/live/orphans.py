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
  venue for its orders as the node starts and brings each into the node's cache, under its
  client order id, with its events (which the OMS records). Once the node runs, each order the
  OMS holds open is judged by the cache: open there, it stays open and is the node's again (a
  kill cancels it); closed there (filled or cancelled at the venue meanwhile), it takes that
  final state (a ``RECONCILED`` event: the OMS keeps an order's latest sequence, which the
  cache's fresh events may not pass); unknown there, the venue did not report it, and it is
  ``ORPHANED``, with a reason saying its final state is not known here (look at the venue's
  history). A node that did not connect settles nothing: without the venue's word, open is the
  honest answer. A clean stop settles nothing in LIVE: the orders rest at the venue, and the
  next start asks.

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
from dataclasses import dataclass

import msgspec

from core.oms import AuditEntry, OmsStore, OrderEvent, RiskAlert
from core.oms.events import CLOSED_ORDER_STATUSES, ORPHANED
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


RECONCILED = "RECONCILED"
"""The event that gives an order the final state the venue reported (LIVE)."""
RECONCILED_REASON = "session ended: closed at the venue, as its reconciliation at node start said"


@dataclass(frozen=True)
class NodeOrder:
    """An order as the node's cache holds it (after the venue's reconciliation, in LIVE)."""

    status: str
    """Nautilus's status name: FILLED, CANCELED, ACCEPTED..."""
    filled_qty: float
    avg_px: float | None


def _unknown(_: str) -> NodeOrder | None:
    return None


def orphans_of(
    orders: Sequence[OrderEvent],
    venues: Collection[str],
    cached: Callable[[str], NodeOrder | None] = _unknown,
) -> list[OrderEvent]:
    """The open ``orders`` on ``venues`` that the node's cache (``cached``) does not hold."""
    return [
        order
        for order in orders
        if order.is_open
        and order.instrument_id.rsplit(".", 1)[-1] in venues
        and cached(order.client_order_id) is None
    ]


def _closed_at_venue(
    orders: Sequence[OrderEvent],
    venues: Collection[str],
    cached: Callable[[str], NodeOrder | None],
) -> list[tuple[OrderEvent, NodeOrder]]:
    # Open in the OMS, closed in the cache: the venue reported its end.
    pairs = []
    for order in orders:
        node = cached(order.client_order_id)
        if order.instrument_id.rsplit(".", 1)[-1] not in venues or node is None:
            continue
        if order.is_open and node.status in CLOSED_ORDER_STATUSES:
            pairs.append((order, node))
    return pairs


async def settle_orphans(
    store: OmsStore,
    venues: Collection[str],
    *,
    reason: str,
    when: str,
    mode: str,
    cached: Callable[[str], NodeOrder | None] = _unknown,
    now_ns: Callable[[], int] = time.time_ns,
) -> list[OrderEvent]:
    """Close in ``store`` every open order of ``venues`` that the node's cache does not hold,
    and give those it holds closed their final state.

    ``cached`` answers for an order id as the node's cache holds it (None: unknown; in SHADOW
    nothing is known). ``when`` is ``start`` or ``stop`` (the audit's actor: ``auto: node
    start``); ``mode`` LIVE or SHADOW (a LIVE orphan's alert is an ERROR: money may be at
    stake). Committed when this returns; returns the orders' new state (empty: nothing to
    settle, nothing written).

    Raises
    ------
    OmsError
        The OMS cannot be read or written.
    """
    await store.flush()  # the session's own events first: an order that closed is not open
    open_orders = await store.node_open_orders()
    orphans = orphans_of(open_orders, venues, cached)
    closed = _closed_at_venue(open_orders, venues, cached)
    if not orphans and not closed:
        return []
    now = now_ns()
    settlement = uuid.uuid4().hex[:12]
    settled = [
        _next(order, ORPHANED, settlement, now, status=ORPHANED, reason=reason) for order in orphans
    ]
    reconciled = [
        _next(
            order,
            RECONCILED,
            settlement,
            now,
            status=node.status,
            filled_qty=node.filled_qty,
            avg_px=node.avg_px,
            reason=RECONCILED_REASON,
        )
        for order, node in closed
    ]
    ids = [order.client_order_id for order in settled]
    ended = [order.client_order_id for order in reconciled]
    store.submit_many([*settled, *reconciled])
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
                "reconciled_count": len(ended),
                "reconciled": ended[:LISTED],
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
            severity="ERROR" if mode == "LIVE" and ids else "WARNING",
            rule=RULE,
            message=_message(ids, ended, when, reason),
            details={"count": len(ids), "orders": ids[:LISTED], "mode": mode},
        )
    )
    await store.flush()
    return [*settled, *reconciled]


def _next(
    order: OrderEvent, event_type: str, settlement: str, now: int, **state: object
) -> OrderEvent:
    # One more event of the order's history (the next sequence, so the OMS takes it as its
    # state), with the order's new ``state``.
    return msgspec.structs.replace(
        order,
        event_id=f"{event_type.lower()}-{settlement}",
        event_type=event_type,
        sequence=order.sequence + 1,
        ts_event=now,
        **state,
    )


def _listed(ids: Sequence[str]) -> str:
    more = f" and {len(ids) - LISTED} more" if len(ids) > LISTED else ""
    return ", ".join(ids[:LISTED]) + more


def _count(ids: Sequence[str]) -> str:
    return f"{len(ids)} order{'s' if len(ids) != 1 else ''}"


def _message(ids: Sequence[str], ended: Sequence[str], when: str, reason: str) -> str:
    # One alert for both: the orphans first (the operator's question), then the orders the
    # venue reported closed.
    parts = []
    if ids:
        parts.append(
            f"{_count(ids)} settled as {ORPHANED} at node {when} ({reason}): {_listed(ids)}"
        )
    if ended:
        parts.append(
            f"{_count(ended)} closed as the venue's reconciliation reported: {_listed(ended)}"
        )
    return "; ".join(parts)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
