"""``ExternalVenuePoller``: each external venue read into the OMS at its own interval.

Nautilus venues push events into the OMS (``OmsFeed``); an external venue is asked. Every
``poll_interval_secs`` the poller reads a venue's open orders, its fills since the last one
seen, its positions and its balances, and writes what changed as the same records Nautilus's
events become, so the panes show both alike.

Reconciliation: an order the OMS holds open that the venue no longer lists is looked up in the
venue's history (by venue id, else by the desk's client id) and gets its final state from
there; an order the venue has never heard of is flagged by a risk alert (once), never given a
state the venue did not report. A poll that fails (timeouts, 5xx and rate limits are retried
by the adapter first) raises one alert per streak and is tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.errors import one_line, task_part
from core.execution.external.adapter import ExternalPosition, ExternalVenueAdapter
from core.execution.external.errors import VenueError
from core.execution.external.records import (
    balance_snapshot,
    client_id,
    fill_record,
    is_news,
    order_event,
    position_snapshot,
    venue_of,
)
from core.oms import OmsStore
from core.oms.events import (
    BalanceSnapshot,
    OrderEvent,
    PositionSnapshot,
    Record,
    RiskAlert,
)

_log = logging.getLogger(__name__)
FIRST_LOOKBACK_NS = 86_400 * 10**9
"""Fills read at the first start of a venue the OMS has no fill of: the last day's."""
MARK_REFRESH_NS = 30 * 10**9
"""A position whose size did not change is rewritten at most this often (its PnL moves with
the mark price at every poll; a row per poll would fill the history for nothing)."""
_SEEN_TRADES = 10_000
KEEP_CLOSED = 10_000
"""Closed orders a venue's book remembers (their late fills still find their strategy)."""


@dataclass
class VenueBook:
    """What the OMS holds of one venue, kept in memory so a poll compares without reading."""

    orders: dict[str, OrderEvent] = field(default_factory=dict)
    """The latest event of each order (open ones, and those closed since the start)."""
    by_venue_id: dict[str, str] = field(default_factory=dict)
    """Venue order id -> OMS client order id."""
    fill_cursor_ns: int = 0
    seen_trades: dict[str, None] = field(default_factory=dict)
    positions: dict[str, PositionSnapshot] = field(default_factory=dict)
    balances: dict[str, BalanceSnapshot] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    """Orders whose submit awaits the venue's answer: a poll leaves them alone."""
    flagged: set[str] = field(default_factory=set)
    error: str | None = None
    """The last poll's failure (None: the last poll worked)."""
    last_poll_ns: int | None = None

    def track(self, event: OrderEvent) -> None:
        self.orders[event.client_order_id] = event
        if event.venue_order_id is not None:
            self.by_venue_id[event.venue_order_id] = event.client_order_id

    def open_orders(self) -> list[OrderEvent]:
        return [order for order in self.orders.values() if order.is_open]

    def prune(self, keep: int = KEEP_CLOSED) -> None:
        """Forget the oldest closed orders beyond ``keep`` (open ones are always kept): a day
        of trading must not grow the book, and a closed order never changes again."""
        closed = [key for key, order in self.orders.items() if not order.is_open]
        for key in closed[: max(len(closed) - keep, 0)]:
            order = self.orders.pop(key)
            if order.venue_order_id is not None:
                self.by_venue_id.pop(order.venue_order_id, None)


class ExternalVenuePoller:
    """Polls ``adapters`` into the OMS; ``await load()`` once, then ``start()`` / ``stop()``.

    ``submit`` is the OMS's ``submit`` (records are queued, written in batches); ``store`` is
    read once at ``load`` for what the OMS already holds of each venue.
    """

    def __init__(
        self,
        adapters: Sequence[ExternalVenueAdapter],
        store: OmsStore,
        *,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.adapters = {adapter.name: adapter for adapter in adapters}
        self.books = {name: VenueBook() for name in self.adapters}
        self._store = store
        self._now_ns = now_ns
        self._tasks: list[asyncio.Task[None]] = []
        self._ids = itertools.count()

    def emit(self, record: Record) -> None:
        """Write ``record`` to the OMS, and remember it if it is an order's event."""
        if isinstance(record, OrderEvent):
            self.books[venue_of(record.instrument_id)].track(record)
        self._store.submit(record)

    # -- lifecycle ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Read what the OMS already holds of each venue (after a restart: its open orders,
        its last fill, its positions and balances)."""
        orders = await self._store.orders(limit=5_000)
        fills = await self._store.fills(limit=1_000)
        positions = await self._store.positions()
        balances = await self._store.balances()
        start = self._now_ns() - FIRST_LOOKBACK_NS
        for name, adapter in self.adapters.items():
            book = self.books[name]
            for order in reversed(orders):  # oldest first: a newer event overrides
                if venue_of(order.instrument_id) == name:
                    book.track(order)
            mine = [f for f in fills if f.account_id == adapter.account_id]
            book.fill_cursor_ns = max((f.ts_event for f in mine), default=start)
            book.seen_trades = dict.fromkeys(f.trade_id for f in mine)
            book.positions = {
                p.instrument_id: p for p in positions if p.account_id == adapter.account_id
            }
            book.balances = {b.currency: b for b in balances if b.account_id == adapter.account_id}

    def start(self) -> None:
        """Poll every venue at its interval, in the background."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._poll_forever(name), name=f"external-poll {name}")
            for name in self.adapters
        ]

    def parts(self) -> tuple[tuple[str, str, str], ...]:
        """Each venue's poller as a part of the node: DOWN when its task ended, WARN with the
        last poll's error, else OK."""
        found = []
        for task, name in zip(self._tasks, self.adapters, strict=False):
            part = task_part(f"poller {name}", task)
            error = self.books[name].error if name in self.books else None
            if part[1] == "OK" and error is not None:
                part = (part[0], "WARN", error)
            found.append(part)
        return tuple(found)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _poll_forever(self, name: str) -> None:
        interval = self.adapters[name].config.poll_interval_secs
        while True:
            try:
                await self.poll_once(name)
            except Exception as error:  # a bug in one poll must not end the polling
                _log.exception("polling %s failed", name)
                self._failed(name, f"{name}: {one_line(error)}")
            await asyncio.sleep(interval)

    # -- one poll -----------------------------------------------------------------------------

    async def poll_once(self, name: str) -> bool:
        """Read venue ``name`` once into the OMS; False when the venue could not be read."""
        adapter, book = self.adapters[name], self.books[name]
        try:
            live = await adapter.open_orders()
            fills = await adapter.fills(book.fill_cursor_ns)
            positions = await adapter.positions()
            balances = await adapter.balances()
            await self._orders(adapter, book, live)
        except VenueError as error:
            self._failed(name, str(error))
            return False
        now = self._now_ns()
        self._fills(adapter, book, fills)
        self._positions(adapter, book, positions, now)
        for balance in balances:
            previous = book.balances.get(balance.currency)
            if previous is None or (previous.total, previous.free) != (balance.total, balance.free):
                record = balance_snapshot(balance, adapter.account_id, adapter.account_type)
                book.balances[balance.currency] = record
                self.emit(record)
        if book.error is not None:
            self.alert(name, "INFO", "external_venue", "polling works again")
        book.error = None
        book.last_poll_ns = now
        book.prune()
        return True

    async def _orders(self, adapter: ExternalVenueAdapter, book: VenueBook, live: list) -> None:
        name = adapter.name
        listed = set()
        for order in live:
            key = book.by_venue_id.get(order.venue_order_id) or client_id(name, order)
            listed.add(key)
            if key in book.in_flight:
                continue
            previous = book.orders.get(key)
            if is_news(previous, order):
                self.emit(order_event(previous, order, key, self._now_ns()))
        # Reconciliation: open in the OMS, gone from the venue's live orders.
        for previous in book.open_orders():
            key = previous.client_order_id
            if key in listed or key in book.in_flight:
                continue
            final = await adapter.order_status(
                venue_order_id=previous.venue_order_id,
                client_order_id=None if previous.venue_order_id else key,
            )
            # A submit's answer or a kill's cancel may have been written while this one was
            # asked: the next event follows the order's latest state, not the one listed.
            previous = book.orders.get(key, previous)
            if final is not None and is_news(previous, final):
                self.emit(order_event(previous, final, key, self._now_ns()))
            elif final is None and key not in book.flagged:
                book.flagged.add(key)
                self.alert(
                    name,
                    "ERROR",
                    "external_reconciliation",
                    f"{key} is open in the OMS but {name} has no such order",
                    instrument_id=previous.instrument_id,
                    client_order_id=key,
                )

    def _fills(self, adapter: ExternalVenueAdapter, book: VenueBook, fills: list) -> None:
        for fill in fills:
            book.fill_cursor_ns = max(book.fill_cursor_ns, fill.ts_event)
            if fill.trade_id in book.seen_trades:
                continue
            book.seen_trades[fill.trade_id] = None
            key = book.by_venue_id.get(fill.venue_order_id) or client_id(adapter.name, fill)
            self.emit(fill_record(fill, book.orders.get(key), key, adapter.account_id))
        while len(book.seen_trades) > _SEEN_TRADES:
            del book.seen_trades[next(iter(book.seen_trades))]

    def _positions(
        self,
        adapter: ExternalVenueAdapter,
        book: VenueBook,
        positions: list[ExternalPosition],
        now: int,
    ) -> None:
        reported = {position.instrument_id: position for position in positions}
        for instrument_id in reported.keys() | book.positions.keys():
            previous = book.positions.get(instrument_id)
            position = reported.get(instrument_id)
            if position is None and (previous is None or previous.side == "FLAT"):
                continue
            if previous is not None and position is not None:
                same_size = (previous.signed_qty, previous.avg_px_open, previous.realized_pnl) == (
                    position.signed_qty,
                    position.avg_px_open,
                    position.realized_pnl,
                )
                fresh = now - previous.ts_event < MARK_REFRESH_NS
                if same_size and (fresh or previous.unrealized_pnl == position.unrealized_pnl):
                    continue
            record = position_snapshot(previous, position, instrument_id, adapter.account_id, now)
            book.positions[instrument_id] = record
            self.emit(record)

    # -- alerts -------------------------------------------------------------------------------

    def _failed(self, name: str, message: str) -> None:
        book = self.books[name]
        if book.error is None:  # one alert per failure streak, not one per poll
            self.alert(
                name,
                "ERROR",
                "external_venue",
                f"polling failed: {message.removeprefix(f'{name}: ')}",
            )
        book.error = message

    def alert(
        self,
        venue: str,
        severity: str,
        rule: str,
        message: str,
        *,
        instrument_id: str | None = None,
        client_order_id: str | None = None,
    ) -> None:
        """Raise a risk alert about ``venue`` (its message starts with the venue's name).

        An alert about one order has an id made from it, so it is written once however many
        polls find the same problem.
        """
        now = self._now_ns()
        details = {"venue": venue}
        if client_order_id is not None:
            details["client_order_id"] = client_order_id
        self._store.submit(
            RiskAlert(
                alert_id=f"external:{venue}:{rule}:{client_order_id or f'{now}-{next(self._ids)}'}",
                ts_event=now,
                severity=severity,
                rule=rule,
                message=message if message.startswith(f"{venue}:") else f"{venue}: {message}",
                instrument_id=instrument_id,
                details=details,
            )
        )
