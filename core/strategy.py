"""``NautilusRebalanceStrategy``: keeps a portfolio at target weights, in backtest and live alike.

The strategy holds no backtest-only logic. Targets reach it in two ways: ``schedule_targets``
(a backtest's signal file: each target set applied when the clock reaches its timestamp) and
``apply_targets`` (the live node's target-weight watcher, or the operator). Both end in
``rebalance``, which asks :func:`core.rebalance.plan_rebalance` for the orders.

Orders are market orders tagged with the operation that caused them (``operation_id=...``) and
the price the decision was made at (``decision_price=...``), so results and the OMS can report
slippage against the decision without another lookup. Every order passes the desk's pre-trade
checks (``core.risk.PreTradeRisk``, limits from ``[risk]``) before ``submit_order``: a denied
order is refused as Nautilus refuses its own (``OrderDenied``, a row in the order history with
the rule and numbers as its reason); near-limit warnings go to ``alert``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import msgspec
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.enums import AccountType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Currency, Quantity
from nautilus_trader.trading.strategy import Strategy

from core.config import AppConfig, RiskConfig
from core.marks import last_price, unrealized_at_last
from core.oms.events import RiskAlert
from core.pre_trade import AlertThrottle, deny_order, market_view
from core.rebalance import InstrumentRules, RebalanceLine, RebalanceSettings, plan_rebalance
from core.risk import MarketView, OrderIntent, PreTradeRisk, RiskVerdict

OPERATION_TAG = "operation_id="
DECISION_PRICE_TAG = "decision_price="


class NautilusRebalanceStrategyConfig(StrategyConfig, frozen=True):
    """Parameters of the rebalancer (mirrors ``core.config.StrategyConfig``)."""

    instrument_ids: tuple[str, ...] = ()
    valuation_currency: str = "USDT"
    min_trade_notional: float = 10.0
    weight_tolerance: float = 0.0005
    cash_buffer: float = 0.002
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    """The pre-trade limits every order of the strategy is checked against."""


def rebalance_strategy_config[C: NautilusRebalanceStrategyConfig](
    config: AppConfig, instrument_ids: Sequence[str], config_class: type[C]
) -> C:
    """The strategy's Nautilus config from the desk's: one mapping for backtest and node."""
    strategy = config.strategy
    return config_class(
        strategy_id=strategy.strategy_id,
        instrument_ids=tuple(instrument_ids),
        valuation_currency=strategy.valuation_currency,
        min_trade_notional=strategy.min_trade_notional,
        weight_tolerance=strategy.weight_tolerance,
        cash_buffer=strategy.cash_buffer,
        risk=config.risk,
    )


@dataclass(frozen=True)
class ScheduledTargets:
    """A target set due at ``ts_event``: what a signal or a target file says."""

    ts_event: int
    operation_id: str
    weights: Mapping[str, float]


class NautilusRebalanceStrategy(Strategy):
    """Rebalances to target weights whenever new targets arrive.

    Between rebalances it does nothing: it subscribes to no data (prices come from the cache,
    which the data engine keeps current), so it costs the engine nothing per tick.
    """

    def __init__(self, config: NautilusRebalanceStrategyConfig) -> None:
        super().__init__(config)
        if not config.instrument_ids:
            raise ValueError("NautilusRebalanceStrategyConfig.instrument_ids is empty")
        self._instrument_ids = [InstrumentId.from_str(i) for i in config.instrument_ids]
        self._settings = RebalanceSettings(
            min_trade_notional=config.min_trade_notional,
            weight_tolerance=config.weight_tolerance,
            cash_buffer=config.cash_buffer,
        )
        self._valuation = Currency.from_str(config.valuation_currency)
        self._schedule: list[ScheduledTargets] = []  # latest first: the next one is last
        self._alert_armed = False
        self.targets: dict[str, float] = {}
        """The targets in force (the last set applied)."""
        self.last_plan: list[RebalanceLine] = []
        """The lines of the last rebalance, skipped ones included (for previews and logs)."""
        self.on_warning: Callable[[str], None] | None = None
        """Called with a one-line warning (no price, skipped instrument); the live node alerts."""
        self.risk = PreTradeRisk(config.risk)
        """The pre-trade checks; its velocity windows count this strategy's orders."""
        self.trading_state = "ACTIVE"
        """ACTIVE, REDUCING or HALTED: the kill switch's state, set by the node."""
        self.alert: Callable[[RiskAlert], None] | None = None
        """Where risk alerts go (the OMS's ``submit``); None drops them (a bare backtest)."""
        self.denied: list[tuple[str, str]] = []
        """(client order id, reason) of every order the pre-trade checks refused."""
        self._warnings = AlertThrottle()

    def on_start(self) -> None:
        for instrument_id in self._instrument_ids:
            if self.cache.instrument(instrument_id) is None:
                self._warn(f"instrument {instrument_id} is not in the cache; it cannot trade")
        self._arm_next_alert()

    def on_stop(self) -> None:
        # Orders sent from on_stop never reach a live venue (see nautilus-notes); send none.
        self._schedule.clear()

    def schedule_targets(self, schedule: Sequence[ScheduledTargets]) -> None:
        """Queue target sets to apply when the clock reaches their timestamps."""
        self._schedule.extend(schedule)
        self._schedule.sort(key=lambda scheduled: scheduled.ts_event, reverse=True)
        if self.is_running:
            self._arm_next_alert()

    def _arm_next_alert(self) -> None:
        # One alert at a time: the backtest clock checks every pending alert on every tick, so
        # a hundred queued alerts would tax each of millions of ticks.
        if self._schedule and not self._alert_armed:
            self.clock.set_time_alert_ns("targets", self._schedule[-1].ts_event, self._on_due)
            self._alert_armed = True

    def _on_due(self, event) -> None:  # TimeEvent
        self._alert_armed = False
        while self._schedule and self._schedule[-1].ts_event <= event.ts_event:
            scheduled = self._schedule.pop()
            self.apply_targets(scheduled.weights, scheduled.operation_id)
        self._arm_next_alert()

    def apply_targets(self, weights: Mapping[str, float], operation_id: str) -> list[RebalanceLine]:
        """Make ``weights`` the targets in force (others keep theirs), then rebalance."""
        self.targets.update(weights)
        return self.rebalance(operation_id)

    def rebalance(self, operation_id: str) -> list[RebalanceLine]:
        """Send the orders that bring the portfolio to the targets in force now."""
        plan = self.plan()
        self.last_plan = plan
        for line in plan:
            if line.skip is not None and line.skip.value == "no price":
                self._warn(f"no price for {line.instrument_id}, skipping")
        self.send_lines(plan, operation_id)
        return plan

    def send_lines(self, lines: Sequence[RebalanceLine], operation_id: str) -> int:
        """Send one market order per line that has a side, exactly as planned (the rebalance,
        or a preview the operator approved), each through the pre-trade checks in turn (sells
        first, as planned, so they free room for the buys); returns how many were sent."""
        sent = 0
        view: MarketView | None = None
        now = self.clock.timestamp_ns()
        for line in lines:
            if line.side is None:
                continue
            instrument = self.cache.instrument(InstrumentId.from_str(line.instrument_id))
            order = self.order_factory.market(
                instrument_id=instrument.id,
                order_side=OrderSide.BUY if line.side == "BUY" else OrderSide.SELL,
                quantity=Quantity(line.quantity, instrument.size_precision),
                tags=[f"{OPERATION_TAG}{operation_id}", f"{DECISION_PRICE_TAG}{line.price!r}"],
            )
            view = self.risk_view() if view is None else view
            intent = self._intent(line, order.quantity.as_double(), now)
            verdict = self.risk.admit(intent, view, self.trading_state)
            self._raise_warnings(intent, verdict)
            if not verdict.allowed:
                reason = verdict.reason or "denied"
                self.denied.append((order.client_order_id.value, reason))
                self.log.warning(f"{order.client_order_id} denied: {reason}")
                deny_order(self, order, reason)
                continue
            view = view.after(intent)
            self.submit_order(order)
            sent += 1
        return sent

    def check_lines(self, lines: Sequence[RebalanceLine]) -> list[RiskVerdict | None]:
        """The pre-trade verdict each line's order would get if the lines were sent now, in
        order (None for a line without an order); counts nothing, sends nothing."""
        now = self.clock.timestamp_ns()
        ordered = [line for line in lines if line.side is not None]
        intents = [self._intent(line, line.quantity, now) for line in ordered]
        verdicts = self.risk.check_batch(intents, self.risk_view(), self.trading_state)
        by_line = {id(line): verdict for line, verdict in zip(ordered, verdicts, strict=True)}
        return [by_line.get(id(line)) for line in lines]

    def risk_view(self) -> MarketView:
        """The book as the pre-trade checks see it now (open orders counted as filled)."""
        instruments, prices, holdings = self._market()
        equity, _ = self._equity_and_free_cash(instruments, prices, holdings)
        rules = {key: _rules(inst) for key, inst in instruments.items()}
        return market_view(self, instruments, prices, holdings, rules, equity)

    def _intent(self, line: RebalanceLine, quantity: float, now: int) -> OrderIntent:
        return OrderIntent(
            strategy_id=str(self.id),
            instrument_id=line.instrument_id,
            side="BUY" if line.side == "BUY" else "SELL",
            quantity=quantity,
            order_type="MARKET",
            ts_ns=now,
            expected_price=line.price,
        )

    def _raise_warnings(self, intent: OrderIntent, verdict: RiskVerdict) -> None:
        if self.alert is None or not verdict.warnings:
            return
        warnings = [
            w
            for w in verdict.warnings
            if self._warnings.allow(str(w.rule), intent.instrument_id, intent.ts_ns)
        ]
        if warnings:
            shown = RiskVerdict(True, None, tuple(warnings))
            for alert in self.risk.alerts(intent, shown):
                self.alert(alert)

    def plan(self, targets: Mapping[str, float] | None = None) -> list[RebalanceLine]:
        """The rebalance ``targets`` (default: the targets in force) imply now; sends nothing."""
        instruments, prices, holdings = self._market()
        equity, free_cash = self._equity_and_free_cash(instruments, prices, holdings)
        rules = {key: _rules(inst) for key, inst in instruments.items()}
        wanted = self.targets if targets is None else targets
        in_force = {k: w for k, w in wanted.items() if k in instruments}
        return plan_rebalance(in_force, holdings, prices, rules, equity, free_cash, self._settings)

    def equity(self) -> float:
        """The account's value in the valuation currency, marked at last prices."""
        equity, _ = self._equity_and_free_cash(*self._market())
        return equity

    def _market(
        self,
    ) -> tuple[dict[str, Instrument], dict[str, float | None], dict[str, float]]:
        # The traded instruments in the cache, their last prices and what is held of each.
        instruments = {
            str(i): inst
            for i in self._instrument_ids
            if (inst := self.cache.instrument(i)) is not None
        }
        prices = {key: self._price(inst) for key, inst in instruments.items()}
        holdings = {key: self._holding(inst) for key, inst in instruments.items()}
        return instruments, prices, holdings

    def _price(self, instrument: Instrument) -> float | None:
        price = last_price(self.cache, instrument.id)
        return None if price is None else price.as_double()

    def _holding(self, instrument: Instrument) -> float:
        account = self.portfolio.account(instrument.id.venue)
        if account is not None and account.type == AccountType.CASH:
            balance = account.balance_total(instrument.base_currency)
            return 0.0 if balance is None else balance.as_double()
        return float(self.portfolio.net_position(instrument.id))

    def _equity_and_free_cash(
        self,
        instruments: Mapping[str, Instrument],
        prices: Mapping[str, float | None],
        holdings: Mapping[str, float],
    ) -> tuple[float, float]:
        equity = 0.0
        free_cash = 0.0
        for venue in {inst.id.venue for inst in instruments.values()}:
            cash, free = self._cash(venue)
            equity += cash
            free_cash += free
        for key, instrument in instruments.items():
            price = prices[key]
            if price is None:
                continue
            account = self.portfolio.account(instrument.id.venue)
            if account is not None and account.type == AccountType.CASH:
                equity += holdings[key] * price
            else:
                equity += unrealized_at_last(self.cache, instrument.id)
        return equity, free_cash

    def _cash(self, venue: Venue) -> tuple[float, float]:
        account = self.portfolio.account(venue)
        if account is None:
            return 0.0, 0.0
        total = account.balance_total(self._valuation)
        free = account.balance_free(self._valuation)
        return (
            0.0 if total is None else total.as_double(),
            0.0 if free is None else free.as_double(),
        )

    def _warn(self, message: str) -> None:
        self.log.warning(message)
        if self.on_warning is not None:
            self.on_warning(message)


def _rules(instrument: Instrument) -> InstrumentRules:
    min_notional = instrument.min_notional
    min_quantity = instrument.min_quantity
    return InstrumentRules(
        lot_size=instrument.size_increment.as_double(),
        size_precision=instrument.size_precision,
        min_quantity=0.0 if min_quantity is None else min_quantity.as_double(),
        min_notional=0.0 if min_notional is None else min_notional.as_double(),
        taker_fee=float(instrument.taker_fee),
    )


def parse_tags(tags: Sequence[str] | None) -> tuple[str | None, float | None]:
    """The operation id and decision price a rebalance order was tagged with."""
    operation_id: str | None = None
    decision_price: float | None = None
    for tag in tags or ():
        if tag.startswith(OPERATION_TAG):
            operation_id = tag.removeprefix(OPERATION_TAG)
        elif tag.startswith(DECISION_PRICE_TAG):
            decision_price = float(tag.removeprefix(DECISION_PRICE_TAG))
    return operation_id, decision_price
