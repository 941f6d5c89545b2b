"""``ExternalVenues``: the desk's external venues as one object, and the way orders reach them.

The router and the orchestrator send an order to an external venue by name with
``await venues.submit("GEMINI", OrderRequest(...))``. The order is written to the OMS (and the
write committed) *before* the request leaves, so a crash at any instant leaves no order the
OMS does not know about; the venue's answer is written when it comes. A venue that does not
answer leaves the order SUBMITTED, and the poller settles it from the venue's history.

The kill switch calls ``cancel_all_open``: every order live at each external venue is
cancelled through its adapter, as Nautilus cancels its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from core.config import AppConfig
from core.errors import TradeConsoleError
from core.execution.external.adapter import ExternalVenueAdapter, OrderRequest
from core.execution.external.errors import VenueAuthError, VenueError, VenueRejected
from core.execution.external.poller import ExternalVenuePoller
from core.execution.external.records import (
    client_id,
    denied_event,
    is_news,
    order_event,
    rejected_event,
    submitted_event,
    venue_of,
)
from core.execution.external.registry import create_adapter
from core.oms import OmsStore
from core.oms.events import OrderEvent


class ExternalVenues:
    """The configured external venues: adapters, their poller, the order path.

    Parameters
    ----------
    adapters : sequence of ExternalVenueAdapter
        One per venue, not yet connected.
    store : OmsStore
        The OMS (opened on the running loop) the orders, fills, positions and balances go to.
    """

    def __init__(
        self,
        adapters: Sequence[ExternalVenueAdapter],
        store: OmsStore,
        *,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.poller = ExternalVenuePoller(adapters, store, now_ns=now_ns)
        self.adapters = self.poller.adapters
        self.now_ns = now_ns
        """The wall clock the venues' records are stamped with."""
        self.trading_state = "ACTIVE"
        """The desk's kill switch as the node applies it: HALTED denies every new order here,
        as Nautilus's risk engine does for its venues (the node sets it)."""

    @classmethod
    def from_config(
        cls, config: AppConfig, store: OmsStore, *, now_ns: Callable[[], int] = time.time_ns
    ) -> ExternalVenues:
        """The venues of ``[[external_venues]]``.

        Raises
        ------
        ConfigError
            An unknown kind, or a credential variable that is not set (one line, naming it).
        """
        adapters = [
            create_adapter(venue, f"external_venues.{i}")
            for i, venue in enumerate(config.external_venues)
        ]
        return cls(adapters, store, now_ns=now_ns)

    @property
    def names(self) -> tuple[str, ...]:
        """The venues' names, as in their instrument ids."""
        return tuple(self.adapters)

    def __contains__(self, venue: object) -> bool:
        """Whether ``venue`` is one of the external venues (the router asks before routing)."""
        return venue in self.adapters

    def problems(self) -> dict[str, str]:
        """Each venue whose last poll failed, with why (for the heartbeat's detail)."""
        return {
            name: book.error for name, book in self.poller.books.items() if book.error is not None
        }

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect each venue, read what the OMS holds of them, start polling.

        A venue that cannot connect is reported by a risk alert and polled anyway: it may come
        back, and its orders must still be reconciled when it does.
        """
        await self.poller.load()
        results = await asyncio.gather(
            *(adapter.connect() for adapter in self.adapters.values()), return_exceptions=True
        )
        for name, result in zip(self.adapters, results, strict=True):
            if isinstance(result, VenueError):
                self.poller.alert(name, "ERROR", "external_venue", f"cannot connect: {result}")
                self.poller.books[name].error = str(result)
            elif isinstance(result, BaseException):
                raise result
        self.poller.start()

    async def stop(self) -> None:
        """Stop polling and close every session."""
        await self.poller.stop()
        for adapter in self.adapters.values():
            await adapter.close()

    # -- orders -------------------------------------------------------------------------------

    async def submit(self, venue: str, request: OrderRequest) -> OrderEvent:
        """Send ``request`` to external venue ``venue``; returns the order's OMS state after
        the venue's answer: ACCEPTED, PARTIALLY_FILLED, FILLED, CANCELED (an IOC that did not
        trade), REJECTED (``reason`` says why; nothing is at the venue, so rerouting is safe) or
        DENIED (trading is HALTED; nothing was sent).

        Raises
        ------
        TradeConsoleError
            ``venue`` is not an external venue, or the order's instrument is not of it.
        VenueUnavailable
            No answer (timeout, 5xx, rate limit): the order may or may not be at the venue. It
            stays SUBMITTED in the OMS until the poller finds it by its client id; do not resend.
        """
        adapter = self._adapter(venue)
        if venue_of(request.instrument_id) != venue:
            raise TradeConsoleError(
                f"{request.client_order_id}: {request.instrument_id} is not traded at {venue}"
            )
        book = self.poller.books[venue]
        if request.client_order_id in book.orders:
            raise TradeConsoleError(
                f"{request.client_order_id}: client order id already used at {venue}"
            )
        if self.trading_state == "HALTED":
            denied = denied_event(request, "trading is HALTED", self.now_ns())
            self.poller.emit(denied)
            self.poller.alert(
                venue,
                "WARNING",
                "order_denied",
                f"{request.client_order_id} denied at {venue}: trading is HALTED",
                instrument_id=request.instrument_id,
                client_order_id=request.client_order_id,
            )
            return denied
        submitted = submitted_event(request, self.now_ns())
        self.poller.emit(submitted)
        await self.store.flush()  # durable before the request leaves
        book.in_flight.add(request.client_order_id)
        try:
            order = await adapter.submit(request)
        except (VenueRejected, VenueAuthError) as error:
            rejected = rejected_event(submitted, str(error), self.now_ns())
            self.poller.emit(rejected)
            return rejected
        except VenueError as error:
            # The one alert of an order in doubt (callers log, they do not alert again).
            self.poller.alert(
                venue,
                "ERROR",
                "external_order_unknown",
                f"{request.client_order_id}: no answer ({error}); not resent, "
                "kept SUBMITTED until the venue is read",
                instrument_id=request.instrument_id,
                client_order_id=request.client_order_id,
            )
            raise
        finally:
            book.in_flight.discard(request.client_order_id)
        current = book.orders[request.client_order_id]
        if not is_news(current, order):  # a kill's cancel of it was written while it travelled
            return current
        accepted = order_event(current, order, request.client_order_id, self.now_ns())
        self.poller.emit(accepted)
        return accepted

    async def cancel(self, venue: str, client_order_id: str) -> OrderEvent:
        """Cancel one order the OMS knows at ``venue``; returns its OMS state afterwards."""
        adapter = self._adapter(venue)
        book = self.poller.books[venue]
        previous = book.orders.get(client_order_id)
        if previous is None or previous.venue_order_id is None:
            raise TradeConsoleError(f"{client_order_id}: no order with a venue id at {venue}")
        order = await adapter.cancel(previous.venue_order_id)
        current = book.orders[client_order_id]
        if not is_news(current, order):
            return current
        event = order_event(current, order, client_order_id, self.now_ns())
        self.poller.emit(event)
        return event

    async def cancel_all_open(self, reason: str) -> int:
        """Cancel every order live at every external venue (the kill switch); returns how many
        were cancelled. A venue that cannot be reached, or an order it will not cancel, raises
        a CRITICAL alert: the operator must know something may still be working."""
        counts = await asyncio.gather(*(self._cancel_venue(name, reason) for name in self.adapters))
        return sum(counts)

    async def _cancel_venue(self, name: str, reason: str) -> int:
        adapter, book = self.adapters[name], self.poller.books[name]
        try:
            live = await adapter.open_orders()
        except VenueError as error:
            self.poller.alert(name, "CRITICAL", "kill", f"{reason}: cannot list orders: {error}")
            return 0
        cancelled = 0
        for order in live:
            try:
                after = await adapter.cancel(order.venue_order_id)
            except VenueError as error:
                self.poller.alert(
                    name,
                    "CRITICAL",
                    "kill",
                    f"{reason}: order {order.venue_order_id} not cancelled: {error}",
                    instrument_id=order.instrument_id,
                )
                continue
            cancelled += after.status == "CANCELED"
            key = book.by_venue_id.get(after.venue_order_id) or client_id(name, after)
            previous = book.orders.get(key)
            if is_news(previous, after):
                self.poller.emit(order_event(previous, after, key, self.now_ns()))
        return cancelled

    def _adapter(self, venue: str) -> ExternalVenueAdapter:
        adapter = self.adapters.get(venue)
        if adapter is None:
            known = ", ".join(self.adapters) or "none configured"
            raise TradeConsoleError(f"{venue} is not an external venue (external venues: {known})")
        return adapter
