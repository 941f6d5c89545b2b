"""``ExternalRoutes``: external venues as the router, the risk checks and the rebalance see them.

The orchestrator routes to an external venue when routing is on and the venue has a
``[routing.venues.NAME]`` entry (its fees and latency penalty; an external instrument carries
no fee of its own). Its instruments are those of its ``[[external_venues]]`` entry, named
``SYMBOL.VENUE``, so ``BTCUSDT.GEMINI`` joins ``BTCUSDT.BINANCE``'s asset group.

What the router weighs there (``quote``): the configured fees and penalty; recent volume and
the depth at the touch from the venue's public market data (``ExternalMarketFeed`` into the
router's ``LiquidityTracker``); the last price; the instrument's lot and minimum; and, for a
spot instrument, a hard cap like a Nautilus cash account's: a sell takes at most the free base
balance held there, a buy at most what the free quote balance there pays for, fee included.

The unified position (spot): the venue's base balance of a routed instrument is that
instrument's holding. It counts in the asset's holding when the rebalance plans, in the
equity (with the venue's cash in the valuation currency), and in the risk checks' view
(plus the signed remainder of the venue's open orders), so REDUCING knows a sell at the
external venue reduces. A perpetual's holding is the venue's reported position.
"""

from __future__ import annotations

import asyncio
import logging
import math

from core.config import RoutingConfig
from core.execution.external.adapter import ExternalInstrument, ExternalMarket, OrderRequest
from core.execution.external.errors import VenueError
from core.execution.external.market import ExternalMarketFeed
from core.execution.external.records import denied_event
from core.execution.external.venues import ExternalVenues
from core.execution.routing import LiquidityTracker, RouteLeg, VenueQuote, venue_of
from core.execution.venue_quotes import Committed
from core.oms.events import OrderEvent
from core.portfolio.rebalance import InstrumentRules
from core.risk import InstrumentMarket, MarketView

_log = logging.getLogger(__name__)
_SEEN_TRADES = 10_000


class ExternalRoutes:
    """The routable external venues of ``venues``; ``await start()`` before the strategy trades.

    Parameters
    ----------
    venues : ExternalVenues
        The node's external venues (started: connected and polled).
    routing : RoutingConfig
        ``[routing]``: a venue is routable when ``routing.venues`` names it.
    tracker : LiquidityTracker
        The router's tracker, fed with the venues' public trades and book sizes.
    valuation : str
        The valuation currency: the venues' cash in it counts in the equity.
    """

    def __init__(
        self,
        venues: ExternalVenues,
        routing: RoutingConfig,
        tracker: LiquidityTracker,
        valuation: str,
    ) -> None:
        self.venues = venues
        self._routing = routing
        self._tracker = tracker
        self._valuation = valuation
        self.routable = tuple(name for name in venues.names if name in routing.venues)
        """External venues the router considers."""
        wanted = {
            name: tuple(
                venues.adapters[name].instrument_id(symbol)
                for symbol in venues.adapters[name].config.instruments
            )
            for name in self.routable
        }
        self.instruments: dict[str, ExternalInstrument] = {}
        """The routed instruments, by id (filled by ``start`` from the venues' details)."""
        self.markets: dict[str, ExternalMarket] = {}
        """The latest public market data per instrument."""
        self._seen: dict[str, None] = {}
        self.feed = ExternalMarketFeed(
            venues.adapters, wanted, self.on_market, tracker.window_ns, now_ns=venues.now_ns
        )
        self._wanted = wanted

    async def start(self) -> None:
        """Read the routed instruments' details and first market data; poll the rest.

        A venue that cannot be read now is not routed to until its data comes (no price).
        """
        for name, ids in self._wanted.items():
            if not ids:
                continue
            try:
                details = await self.venues.adapters[name].instruments()
            except VenueError as error:
                _log.warning("%s not routed: %s", name, error)
                continue
            self.instruments.update({i.instrument_id: i for i in details if i.instrument_id in ids})
        await asyncio.gather(*(self.feed.read_once(name) for name in self.routable))
        self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()

    def __contains__(self, instrument_id: object) -> bool:
        """Whether ``instrument_id`` is an external instrument the router may use."""
        return instrument_id in self.instruments

    # -- market data ----------------------------------------------------------------------------

    def on_market(self, market: ExternalMarket) -> None:
        """Feed the tracker with the new public trades (once each) and the touch's sizes."""
        instrument_id = market.instrument_id
        for trade in market.trades:
            key = f"{instrument_id}:{trade.trade_id}"
            if key in self._seen:
                continue
            self._seen[key] = None
            self._tracker.on_trade(instrument_id, trade.ts_event, trade.quantity)
        while len(self._seen) > _SEEN_TRADES:
            del self._seen[next(iter(self._seen))]
        if market.bid_size is not None and market.ask_size is not None:
            self._tracker.on_quote(instrument_id, market.bid_size, market.ask_size)
        self.markets[instrument_id] = market

    def price(self, instrument_id: str) -> float | None:
        """The venue's last trade, else its mid; None before any market data."""
        market = self.markets.get(instrument_id)
        if market is None:
            return None
        if market.last is not None and market.last > 0:
            return market.last
        return _mid(market)

    # -- holdings -------------------------------------------------------------------------------

    def holding(self, instrument_id: str) -> float:
        """What the venue holds of the instrument: the base balance (spot), else the position."""
        instrument = self.instruments[instrument_id]
        book = self.venues.poller.books[venue_of(instrument_id)]
        if instrument.kind == "spot":
            balance = book.balances.get(instrument.base.upper())
            return 0.0 if balance is None else balance.total
        position = book.positions.get(instrument_id)
        return 0.0 if position is None else position.quantity

    def _free(self, venue: str, currency: str) -> float:
        balance = self.venues.poller.books[venue].balances.get(currency.upper())
        return 0.0 if balance is None else balance.free

    def value(self) -> tuple[float, float]:
        """(equity, free cash) the routed venues add, in the valuation currency: their cash in
        it, plus each routed spot instrument's holding at its price."""
        equity = free = 0.0
        for venue in {venue_of(i) for i in self.instruments}:
            balance = self.venues.poller.books[venue].balances.get(self._valuation)
            if balance is not None:
                equity += balance.total
                free += balance.free
        for instrument_id, instrument in self.instruments.items():
            price = self.price(instrument_id)
            if instrument.kind == "spot" and price is not None:
                equity += self.holding(instrument_id) * price
        return equity, free

    def _open_remainder(self, instrument_id: str) -> float:
        book = self.venues.poller.books[venue_of(instrument_id)]
        remainder = 0.0
        for order in book.open_orders():
            if order.instrument_id == instrument_id:
                leaves = max(order.quantity - order.filled_qty, 0.0)
                remainder += leaves if order.side == "BUY" else -leaves
        return remainder

    def with_external(self, view: MarketView, strategy_id: str) -> MarketView:
        """``view`` plus the routed instruments: their prices and rules, and the position
        each will have (holding plus open orders' remainder), so an external leg is judged by
        the same checks, REDUCING included."""
        if not self.instruments:
            return view
        positions = dict(view.positions)
        markets = dict(view.instruments)
        for instrument_id, instrument in self.instruments.items():
            positions[(strategy_id, instrument_id)] = self.holding(
                instrument_id
            ) + self._open_remainder(instrument_id)
            market = self.markets.get(instrument_id)
            markets[instrument_id] = InstrumentMarket(
                last=None if market is None else market.last,
                mid=None if market is None else _mid(market),
                rules=InstrumentRules(
                    lot_size=instrument.size_increment,
                    size_precision=_precision(instrument.size_increment),
                    min_quantity=instrument.min_quantity,
                    min_notional=0.0,
                    taker_fee=self._fees(venue_of(instrument_id))[1] / 10_000,
                ),
            )
        return MarketView(view.equity, positions, markets)

    # -- routing --------------------------------------------------------------------------------

    def _fees(self, venue: str) -> tuple[float, float]:
        fees = self._routing.venues[venue]
        taker = fees.taker_fee_bps or 0.0  # required by the config for an external venue
        maker = taker if fees.maker_fee_bps is None else fees.maker_fee_bps
        return maker, taker

    def quote(
        self, instrument_id: str, side: str, now: int, committed: Committed
    ) -> VenueQuote | None:
        """The venue of ``instrument_id`` as the router weighs it (None: not routable now)."""
        instrument = self.instruments.get(instrument_id)
        if instrument is None:
            return None
        venue = venue_of(instrument_id)
        maker, taker = self._fees(venue)
        price = self.price(instrument_id)
        room: float | None = None
        if instrument.kind == "spot":
            if side == "SELL":
                room = self._free(venue, instrument.base) - committed.get(instrument_id, 0.0)
            elif price is None:
                room = 0.0
            else:
                cash = self._free(venue, instrument.quote) - committed.get(venue, 0.0)
                room = max(cash, 0.0) / (price * (1 + taker / 10_000))
        return VenueQuote(
            venue=venue,
            instrument_id=instrument_id,
            maker_fee_bps=maker,
            taker_fee_bps=taker,
            latency_penalty_bps=self._routing.venues[venue].latency_penalty_bps,
            recent_volume=self._tracker.volume(instrument_id, now),
            depth=self._tracker.depth(instrument_id, side),
            price=price,
            lot_size=instrument.size_increment,
            size_precision=_precision(instrument.size_increment),
            min_quantity=instrument.min_quantity,
            max_quantity=room,
        )

    def commit(self, committed: Committed, side: str, leg: RouteLeg) -> None:
        """Count ``leg`` as spoken for within one send: its coins (a sell) or cash and fee."""
        if side == "SELL":
            committed[leg.instrument_id] = committed.get(leg.instrument_id, 0.0) + leg.quantity
        elif leg.price is not None:
            fee = 1 + self._fees(leg.venue)[1] / 10_000
            committed[leg.venue] = committed.get(leg.venue, 0.0) + leg.quantity * leg.price * fee

    # -- orders ---------------------------------------------------------------------------------

    def request(
        self,
        client_order_id: str,
        leg: RouteLeg,
        side: str,
        strategy_id: str,
        operation_id: str,
    ) -> OrderRequest:
        """The leg as an external order: a market order (immediate-or-cancel) protected by a
        limit ``[routing] external_slippage_bps`` through the decision price."""
        assert leg.price is not None, "the router routes only to venues with a price"
        instrument = self.instruments[leg.instrument_id]
        through = self._routing.external_slippage_bps / 10_000
        limit = leg.price * (1 + through if side == "BUY" else 1 - through)
        step = instrument.price_increment
        if step > 0:
            ticks = math.ceil(limit / step - 1e-9) if side == "BUY" else math.floor(limit / step)
            limit = round(ticks * step, _precision(step))
        return OrderRequest(
            client_order_id=client_order_id,
            instrument_id=leg.instrument_id,
            side="BUY" if side == "BUY" else "SELL",
            quantity=leg.quantity,
            order_type="MARKET",
            price=limit,
            time_in_force="IOC",
            strategy_id=strategy_id,
            operation_id=operation_id,
            decision_price=leg.price,
        )

    def deny(self, request: OrderRequest, reason: str, now: int) -> None:
        """Record ``request`` as DENIED by the desk's checks (it never leaves)."""
        self.venues.poller.emit(denied_event(request, reason, now))

    async def submit(self, request: OrderRequest) -> OrderEvent:
        """``ExternalVenues.submit`` at the request's venue (see its errors)."""
        return await self.venues.submit(venue_of(request.instrument_id), request)


def _mid(market: ExternalMarket) -> float | None:
    if market.bid is None or market.ask is None or not market.bid > 0 < market.ask:
        return None
    return (market.bid + market.ask) / 2


def _precision(step: float) -> int:
    if step <= 0 or step >= 1:
        return 0
    return max(0, min(12, round(-math.log10(step) + 0.4999)))
