"""The honest fill models as a Nautilus venue: an execution client that fills our orders itself.

Nautilus's matching engine fills a market order at the venue's next event of *any* instrument
against the *last* trade of its own (printed before the order arrived), and fills the rest of a
market order one tick worse at once; its hooks (``FillModel``, liquidity consumption) cannot
make an order wait for later trades. So with an honest model the venue's execution client does
not hand our orders to the matching engine: it acknowledges them, gives them to
``core.fills.matcher`` and emits the fills the matcher decides, each at the printed trade's time,
with the venue's fee (taker; maker when a resting limit is hit). Positions, balances, the cache
and the OMS see ordinary Nautilus order events; the simulated exchange still holds the account.

The same client runs in a backtest (``install_trade_flow_venue`` swaps it in after
``BacktestNode.build``) and in the shadow node's sandbox (``core.live.venues``), so both fill
alike. It sees trades on the message bus ahead of any strategy (a high subscription priority),
so an order sent on a trade can only fill from the trades after it.

Cancels take effect when they are sent (no latency: the kill switch's cancels are never
overtaken by a fill). Modifying an order is refused (the desk's algorithms cancel and resend).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import Clock, MessageBus
from nautilus_trader.execution.client import ExecutionClient
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import (
    AccountType,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderType,
    account_type_from_str,
)
from nautilus_trader.model.identifiers import (
    AccountId,
    ClientId,
    ClientOrderId,
    TradeId,
    Venue,
    VenueOrderId,
)
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.model.orders import Order

from core.config import VenueConfig
from core.fills.matcher import Fill, ImpactModel, TradeFlowMatcher, WorkingOrder
from core.fills.models import HONEST_MODELS, impact_model

TRADES_FIRST = 1_000_000
"""Message-bus priority of the client's trade subscription: before every strategy and actor."""

_SIMULATED_TYPES = (OrderType.MARKET, OrderType.LIMIT)


class TradeFlowExecClient(ExecutionClient):
    """A simulated venue's execution client filling our orders from printed trades only.

    ``clock`` stamps its events (the backtest's, or the live node's in the sandbox);
    ``latency_ns`` is the one-way latency before an order meets the market.
    """

    def __init__(
        self,
        venue: str,
        account_type: AccountType,
        msgbus: MessageBus,
        cache: Cache,
        clock: Clock,
        latency_ns: int,
        impact: ImpactModel | None = None,
    ) -> None:
        super().__init__(
            client_id=ClientId(venue),
            venue=Venue(venue),
            oms_type=OmsType.NETTING,
            account_type=account_type,
            base_currency=None,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
        )
        self._set_account_id(AccountId(f"{venue}-001"))
        self.matcher = TradeFlowMatcher(impact)
        self._latency_ns = latency_ns
        self._now_ns: Callable[[], int] = clock.timestamp_ns
        self._filling = True
        self._venue_ids: dict[str, VenueOrderId] = {}
        self._trade_ids = itertools.count(1)
        self._cache_ref = cache
        self._trades_topic = f"data.trades.{venue}.*"
        self._trade_handler = self.on_trade
        self._listening = False
        self._listen_while_working()

    def _start(self) -> None:
        self._set_connected(True)

    def _stop(self) -> None:
        self._set_connected(False)

    # Commands from the execution engine --------------------------------------------------

    def submit_order(self, command: Any) -> None:
        self._accept(command.order)

    def submit_order_list(self, command: Any) -> None:
        for order in command.order_list.orders:
            self._accept(order)

    def modify_order(self, command: Any) -> None:
        self.generate_order_modify_rejected(
            strategy_id=command.strategy_id,
            instrument_id=command.instrument_id,
            client_order_id=command.client_order_id,
            venue_order_id=self._venue_ids.get(command.client_order_id.value),
            reason="the simulated venue does not modify orders: cancel and send again",
            ts_event=self._now_ns(),
        )

    def cancel_order(self, command: Any) -> None:
        self._cancel(command.client_order_id, command.instrument_id.value)

    def cancel_all_orders(self, command: Any) -> None:
        side = command.order_side
        for working in self.matcher.working(command.instrument_id.value):
            if side == OrderSide.NO_ORDER_SIDE or (side == OrderSide.BUY) == working.buy:
                self._cancel(ClientOrderId(working.key), working.instrument)

    def batch_cancel_orders(self, command: Any) -> None:
        for cancel in command.cancels:
            self.cancel_order(cancel)

    def _listen_while_working(self) -> None:
        """Subscribe to the venue's trades only while they can fill something.

        A trade with no order working (and no impact model summing volume) changes nothing:
        without a subscription the message bus skips the call, which was most of this client's
        cost (a Python call per trade tick, millions in a backtest). Subscribing inside a
        publish does not deliver the trade being published (the bus iterates its list as it
        was), so an order still only fills from the trades after it was added.
        """
        wanted = not self.matcher.idle_everywhere()
        if wanted == self._listening:
            return
        if wanted:
            self._msgbus.subscribe(
                topic=self._trades_topic, handler=self._trade_handler, priority=TRADES_FIRST
            )
        else:
            self._msgbus.unsubscribe(topic=self._trades_topic, handler=self._trade_handler)
        self._listening = wanted

    def stop_filling(self) -> None:
        """Stop filling: the node holding this venue is stopping (its orders get settled)."""
        self._filling = False

    # Market data -------------------------------------------------------------------------

    def on_trade(self, tick: TradeTick) -> None:
        """Feed one printed trade of the venue to the matcher and emit the fills it gives."""
        if not self._filling:
            return
        key = tick.instrument_id.value
        if self.matcher.idle(key):
            return
        instrument = self._cache_ref.instrument(tick.instrument_id)
        if instrument is None:
            return
        fills = self.matcher.on_trade(
            key,
            tick.ts_event,
            tick.price.raw,
            tick.size.raw,
            int(tick.aggressor_side),
            instrument.price_increment.raw,
        )
        for fill in fills:
            self._fill(fill, instrument)
        self._listen_while_working()

    # Internals ---------------------------------------------------------------------------

    def _accept(self, order: Order) -> None:
        now = self._now_ns()
        self.generate_order_submitted(
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            ts_event=now,
        )
        if order.order_type not in _SIMULATED_TYPES or order.is_quote_quantity:
            self.generate_order_rejected(
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                reason=f"the simulated venue fills MARKET and LIMIT orders in base units only, "
                f"not {order.type_string()}",
                ts_event=now,
                due_post_only=False,
            )
            return
        venue_id = VenueOrderId(f"{self.venue.value}-{len(self._venue_ids) + 1}")
        self._venue_ids[order.client_order_id.value] = venue_id
        self.generate_order_accepted(
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=venue_id,
            ts_event=now,
        )
        self.matcher.add(
            WorkingOrder(
                key=order.client_order_id.value,
                instrument=order.instrument_id.value,
                buy=order.side == OrderSide.BUY,
                leaves=order.leaves_qty.raw,
                limit=order.price.raw if order.order_type == OrderType.LIMIT else None,
                # No latency: the next trade fed meets it, whatever its stamp (a replay stamps
                # a batch of trades with one instant, which may precede the send by a hair).
                arrival_ns=now + self._latency_ns if self._latency_ns > 0 else 0,
            )
        )
        self._listen_while_working()

    def _cancel(self, client_order_id: ClientOrderId, instrument: str) -> None:
        order = self._cache_ref.order(client_order_id)
        if order is None:
            return
        working = self.matcher.cancel(client_order_id.value, instrument)
        self._listen_while_working()
        venue_id = self._venue_ids.get(client_order_id.value)
        if working is None or order.is_closed:
            self.generate_order_cancel_rejected(
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=client_order_id,
                venue_order_id=venue_id,
                reason=f"{client_order_id.value} is not working at the venue",
                ts_event=self._now_ns(),
            )
            return
        self.generate_order_canceled(
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=client_order_id,
            venue_order_id=venue_id,
            ts_event=self._now_ns(),
        )

    def _fill(self, fill: Fill, instrument: Any) -> None:
        order = self._cache_ref.order(ClientOrderId(fill.key))
        if order is None or order.is_closed:
            return
        quantity = fill.quantity
        if order.is_reduce_only:
            quantity = min(quantity, self._reducible(order))
        if quantity > 0:
            last_qty = Quantity.from_raw(quantity, instrument.size_precision)
            last_px = Price.from_raw(fill.price, instrument.price_precision)
            self.generate_order_filled(
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                venue_order_id=self._venue_ids[fill.key],
                venue_position_id=None,
                trade_id=TradeId(f"{self.venue.value}-T{next(self._trade_ids)}"),
                order_side=order.side,
                order_type=order.order_type,
                last_qty=last_qty,
                last_px=last_px,
                quote_currency=instrument.quote_currency,
                commission=commission(instrument, last_qty, last_px, fill.maker),
                liquidity_side=LiquiditySide.MAKER if fill.maker else LiquiditySide.TAKER,
                ts_event=fill.ts_ns,
            )
        if quantity < fill.quantity and not order.is_closed:
            # A reduce-only order never opens a position the other way: its rest is cancelled.
            self._cancel(order.client_order_id, order.instrument_id.value)

    def _reducible(self, order: Order) -> int:
        net = 0
        for position in self._cache_ref.positions_open(instrument_id=order.instrument_id):
            net += position.signed_qty
        buy = order.side == OrderSide.BUY
        if (buy and net >= 0) or (not buy and net <= 0):
            return 0
        return Quantity(abs(net), order.quantity.precision).raw


def commission(instrument: Any, quantity: Quantity, price: Price, maker: bool) -> Money:
    """The instrument's maker or taker fee on a fill, as Nautilus's ``MakerTakerFeeModel``
    charges it."""
    notional = instrument.notional_value(quantity, price, use_quote_for_inverse=False)
    value = notional.as_decimal() * (instrument.maker_fee if maker else instrument.taker_fee)
    currency = (
        instrument.get_base_currency() if instrument.is_inverse else instrument.quote_currency
    )
    return Money(value, currency)


def install_trade_flow_venue(
    engine: BacktestEngine,
    venue: str,
    account_type: str,
    latency_ns: int,
    impact: ImpactModel | None,
) -> TradeFlowExecClient:
    """Swap a built backtest venue's execution client for the honest one (before ``run``).

    The venue's simulated exchange keeps its own client, through which it still reports the
    account; the execution engine routes our orders to this one instead.
    """
    kernel = engine.kernel
    client = TradeFlowExecClient(
        venue=venue,
        account_type=account_type_from_str(account_type.upper()),
        msgbus=kernel.msgbus,
        cache=kernel.cache,
        clock=kernel.clock,
        latency_ns=latency_ns,
        impact=impact,
    )
    kernel.exec_engine.deregister_client(client)  # the built client: the same id, removed by it
    kernel.exec_engine.register_client(client)
    return client


def install_desk_fills(engine: BacktestEngine, venues: tuple[VenueConfig, ...]) -> None:
    """Give every built backtest venue whose fill model is honest the honest client."""
    for venue in venues:
        if venue.fill_model in HONEST_MODELS:
            install_trade_flow_venue(
                engine,
                venue.name,
                venue.account_type,
                round(venue.latency_ms * 1_000_000),
                impact_model(venue),
            )
