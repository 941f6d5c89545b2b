"""``NautilusRebalanceStrategy``: keeps a portfolio at target weights, in backtest and live alike.

The strategy holds no backtest-only logic. Targets reach it in two ways: ``schedule_targets``
(a backtest's signal file: each target set applied when the clock reaches its timestamp) and
``apply_targets`` (the live node's target-weight watcher, or the operator). Both end in
``rebalance``, which asks :func:`core.portfolio.rebalance.plan_rebalance` for the orders.

Orders are market orders tagged with the operation that caused them (``operation_id=...``) and
the price the decision was made at (``decision_price=...``), so results and the OMS can report
slippage against the decision without another lookup. Every order goes out through
:class:`core.execution.orchestrator.Orchestrator`: the smart order router (``[routing]``, off by
default), the execution algorithm, the decision written to the OMS, the desk's pre-trade checks
(``core.risk.PreTradeRisk``, limits from ``[risk]``: a denied order is refused as Nautilus
refuses its own, ``OrderDenied`` with the rule and numbers as its reason; near-limit warnings
go to ``alert``), then ``submit_order``.

With routing on, instruments of the same symbol on several venues are one asset
(``core.execution.routing.assets``): the rebalance plans one line per asset on its primary
instrument, against the holdings of every venue together, and the router spreads it over the venues.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import msgspec
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AccountType
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Currency
from nautilus_trader.trading.strategy import Strategy

from core.config import AppConfig, ExecutionConfig, RiskConfig, RoutingConfig
from core.execution.orchestrator import DECISION_PRICE_TAG, OPERATION_TAG, Orchestrator
from core.oms.events import Record
from core.portfolio.marks import last_price, unrealized_at_last
from core.portfolio.rebalance import (
    InstrumentRules,
    RebalanceLine,
    RebalanceSettings,
    plan_rebalance,
)
from core.risk import MarketView, OrderIntent, PreTradeRisk, RiskVerdict
from core.risk.pre_trade import market_view


class NautilusRebalanceStrategyConfig(StrategyConfig, frozen=True):
    """Parameters of the rebalancer (mirrors ``core.config.StrategyConfig``)."""

    instrument_ids: tuple[str, ...] = ()
    valuation_currency: str = "USDT"
    min_trade_notional: float = 10.0
    weight_tolerance: float = 0.0005
    cash_buffer: float = 0.002
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    """The pre-trade limits every order of the strategy is checked against."""
    routing: RoutingConfig = msgspec.field(default_factory=RoutingConfig)
    """The smart order router (off: every order on its own instrument's venue)."""
    execution: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    """Which execution algorithm works an order (``market``: none)."""


def rebalance_strategy_config[C: NautilusRebalanceStrategyConfig](
    config: AppConfig, instrument_ids: Sequence[str], config_class: type[C]
) -> C:
    """The strategy's Nautilus config from the desk's: one mapping for backtest and node."""
    strategy = config.strategy
    # Nautilus names a strategy ``{strategy_id}-{order_id_tag}`` and, with no tag, renames it
    # ``{name}-000``: the desk's ``REBAL-001`` goes in as its two parts to stay ``REBAL-001``.
    name, _, tag = strategy.strategy_id.rpartition("-")
    return config_class(
        strategy_id=name,
        order_id_tag=tag,
        instrument_ids=tuple(instrument_ids),
        valuation_currency=strategy.valuation_currency,
        min_trade_notional=strategy.min_trade_notional,
        weight_tolerance=strategy.weight_tolerance,
        cash_buffer=strategy.cash_buffer,
        risk=config.risk,
        routing=config.routing,
        execution=config.execution,
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
    which the data engine keeps current), so it costs the engine nothing per tick. With
    ``[routing] enabled`` it subscribes to trade ticks, which feed the router's liquidity
    tracker (about a microsecond per tick, ``bench/bench_router.py``).
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
        self.alert: Callable[[Record], None] | None = None
        """Where the strategy's OMS records go (the OMS's ``submit``): risk alerts and route
        decisions; None drops them (a bare backtest)."""
        self.run_id: str | None = None
        """The backtest whose OMS rows this strategy's records join (None: the node)."""
        self.denied: list[tuple[str, str]] = []
        """(client order id, reason) of every order the pre-trade checks refused."""
        self.orchestrator = Orchestrator(self, config.routing, config.execution)
        """The path every order takes: router, algorithm, OMS, risk checks, venue."""

    def on_start(self) -> None:
        for instrument_id in self._instrument_ids:
            if self.cache.instrument(instrument_id) is None:
                self._warn(f"instrument {instrument_id} is not in the cache; it cannot trade")
            if self.orchestrator.routing.enabled:
                # The router weighs each venue by what it traded lately: only then does the
                # strategy listen to ticks (otherwise it costs the engine nothing per tick).
                self.subscribe_trade_ticks(instrument_id)
        self._arm_next_alert()

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.orchestrator.tracker.on_trade(
            tick.instrument_id.value, tick.ts_event, tick.size.as_double()
        )

    def on_order_rejected(self, event: OrderRejected) -> None:
        self.orchestrator.on_rejected(event)

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
        """Send the orders that bring the portfolio to the targets in force now.

        What is left of the parents an execution algorithm still works is cancelled first
        (``Orchestrator.replace_parents``): the plan starts from the position as it is, and its
        orders replace the old ones rather than stack on them."""
        self.orchestrator.replace_parents(str(i) for i in self._instrument_ids)
        plan = self.plan()
        self.last_plan = plan
        for line in plan:
            if line.skip is not None and line.skip.value == "no price":
                self._warn(f"no price for {line.instrument_id}, skipping")
        self.send_lines(plan, operation_id)
        return plan

    def send_lines(self, lines: Sequence[RebalanceLine], operation_id: str) -> int:
        """Send the orders of the lines that have a side, exactly as planned (the rebalance, or
        a preview the operator approved), in order (sells first, as planned, so they free room
        for the buys), through the orchestrator (router, OMS, pre-trade checks, venue); returns
        how many orders reached a venue."""
        return self.orchestrator.send(lines, operation_id)

    def check_lines(self, lines: Sequence[RebalanceLine]) -> list[RiskVerdict | None]:
        """The pre-trade verdict each line's order would get if the lines were sent now, in
        order (None for a line without an order); counts nothing, sends nothing."""
        now = self.clock.timestamp_ns()
        ordered = [line for line in lines if line.side is not None]
        intents = [
            self.intent(
                line.instrument_id,
                line.side or "",
                line.quantity,
                line.price,
                now,
                worked=self.orchestrator.works(line.quantity, line.price),
            )
            for line in ordered
        ]
        verdicts = self.risk.check_batch(intents, self.risk_view(), self.trading_state)
        by_line = {id(line): verdict for line, verdict in zip(ordered, verdicts, strict=True)}
        return [by_line.get(id(line)) for line in lines]

    def risk_view(self) -> MarketView:
        """The book as the pre-trade checks see it now (open orders counted as filled)."""
        instruments, prices, holdings = self._market()
        equity, _ = self._equity_and_free_cash(instruments, prices, holdings)
        rules = {key: _rules(inst) for key, inst in instruments.items()}
        view = market_view(self, instruments, prices, holdings, rules, equity)
        return self.orchestrator.with_external(view)  # external venues' instruments too

    def intent(
        self,
        instrument_id: str,
        side: str,
        quantity: float,
        price: float | None,
        now: int,
        *,
        worked: bool = False,
    ) -> OrderIntent:
        """A market order of this strategy as the pre-trade checks see it (``worked``: a parent
        an execution algorithm works, see ``OrderIntent.worked``)."""
        return OrderIntent(
            strategy_id=str(self.id),
            instrument_id=instrument_id,
            side="BUY" if side == "BUY" else "SELL",
            quantity=quantity,
            order_type="MARKET",
            ts_ns=now,
            expected_price=price,
            worked=worked,
        )

    def plan(self, targets: Mapping[str, float] | None = None) -> list[RebalanceLine]:
        """The rebalance ``targets`` (default: the targets in force) imply now; sends nothing."""
        instruments, prices, holdings = self._market()
        equity, free_cash = self._equity_and_free_cash(instruments, prices, holdings)
        rules = {key: _rules(inst) for key, inst in instruments.items()}
        wanted = self.targets if targets is None else targets
        in_force = {k: w for k, w in wanted.items() if k in instruments}
        if self.orchestrator.routing.enabled:
            in_force, holdings, prices = self._by_asset(in_force, holdings, prices)
        return plan_rebalance(in_force, holdings, prices, rules, equity, free_cash, self._settings)

    def _by_asset(
        self,
        targets: Mapping[str, float],
        holdings: Mapping[str, float],
        prices: Mapping[str, float | None],
    ) -> tuple[dict[str, float], dict[str, float], dict[str, float | None]]:
        # One line per asset, on its primary: the primary's target if it has one, else the sum
        # of its members' (a preview lists every member at its weight); held across venues.
        asset_targets: dict[str, float] = {}
        asset_holdings = dict(holdings)
        asset_prices = dict(prices)
        for primary, members in self.orchestrator.groups.items():
            named = [m for m in members if m in targets]
            if named:
                asset_targets[primary] = (
                    targets[primary] if primary in targets else sum(targets[m] for m in named)
                )
            asset_holdings[primary] = sum(self.orchestrator.held(m, holdings) for m in members)
            if asset_prices.get(primary) is None:
                asset_prices[primary] = next(
                    (p for m in members if (p := prices.get(m)) is not None), None
                )
        return asset_targets, asset_holdings, asset_prices

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
        prices = {key: self.last_price(inst) for key, inst in instruments.items()}
        holdings = {key: self.holding(inst) for key, inst in instruments.items()}
        return instruments, prices, holdings

    def last_price(self, instrument: Instrument) -> float | None:
        """The price decisions are made at: the last trade (else the mid); None before any."""
        price = last_price(self.cache, instrument.id)
        return None if price is None else price.as_double()

    _price = last_price  # the name tests and benches read prices by

    def holding(self, instrument: Instrument) -> float:
        """What the account at the instrument's venue holds of it (base currency on a cash
        account, the net position on a margin account)."""
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
        external_equity, external_free = self.orchestrator.external_value()
        return equity + external_equity, free_cash + external_free

    def free_cash(self, venue: Venue) -> float:
        """Cash free to buy with at ``venue``, in the valuation currency."""
        return self._cash(venue)[1]

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
