"""``PreTradeRisk``: the desk's checks for every order, in backtests and on the node alike.

Pure Python with no Nautilus import: the strategy builds an :class:`OrderIntent` and a
:class:`MarketView` from Nautilus's cache and asks before each ``submit_order``; a denied order
is not submitted (the caller turns ``verdict.reason`` into Nautilus's ``OrderDenied``). Limits
come from ``[risk]`` (``core.config.RiskConfig``); a limit of 0 (or an instrument absent from a
per-instrument table) switches that check off.

The rules run in a fixed order and the first that fails denies:

1. ``trading_state``: HALTED denies everything; REDUCING passes only reducing orders.
2. ``no_price``: an instrument with neither a last nor a mid price cannot be judged.
3. venue minimums: ``order_min_quantity``, ``order_lot_size``, ``order_min_notional``.
4. order caps: ``order_max_quantity``, ``order_max_notional``.
5. ``price_tolerance``: limit price, or a market order's expected fill, vs last (else mid).
6. position limits: ``position_quantity``, ``position_notional`` (the instrument, all
   strategies netted), ``strategy_notional``, ``global_notional``.
7. exposure: ``gross_exposure``, ``net_exposure`` (notional after the order over equity).
8. velocity: orders per second and per minute, per strategy and in total.

A *reducing* order makes the account's position in its instrument (all strategies netted)
smaller in absolute value without crossing zero. A desk must always be able to get smaller, so
reducing orders skip the order caps, the position limits and the exposure limits (their size is
bounded by a position the desk already holds); they still meet the trading state, the venue's
minimums, the price tolerance and the velocity limits.

Velocity counts orders *sent*: ``check`` changes nothing, ``record_sent`` counts an order,
``admit`` does both (check, and count it when allowed). So a preview, or a check whose order the
caller then drops, never uses up the rate; and since excess is denied rather than queued, a
denied order is never counted either.

Orders of one batch (a rebalance) should each be checked against the view as the earlier ones
leave it: ``view.after(intent)`` after each order sent, or ``check_batch``, which does that and
counts velocity as if each allowed order were sent, without recording anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.config import AppConfig, RiskConfig, validate
from core.oms.events import RiskAlert
from core.risk import rules
from core.risk.market import MarketView, OrderIntent
from core.risk.velocity import OrderRate
from core.risk.verdict import ALLOWED, RiskBreach, RiskVerdict, Rule, breach_alert

DENIAL_SEVERITY = "ERROR"
WARNING_SEVERITY = "WARNING"


class PreTradeRisk:
    """The pre-trade checks and the velocity windows they keep.

    Parameters
    ----------
    config : RiskConfig
        The ``[risk]`` limits; validated again here (limits that contradict each other are a
        ``ConfigError``), as a config built in code never went through ``load_config``.
    """

    def __init__(self, config: RiskConfig) -> None:
        validate(AppConfig(risk=config), "risk config")
        self.config = config
        self._warn_at = config.warn_at
        self._max_position_quantity = dict(config.max_position_quantity)
        self._max_order_quantity = dict(config.max_order_quantity)
        self._rate = OrderRate(
            config.max_orders_per_second,
            config.max_orders_per_minute,
            config.max_orders_per_second_total,
            config.max_orders_per_minute_total,
            config.warn_at,
        )

    def check(self, intent: OrderIntent, view: MarketView, trading_state: str) -> RiskVerdict:
        """Whether ``intent`` may be sent now; counts nothing (see ``record_sent``).

        Parameters
        ----------
        intent : OrderIntent
            The order about to be submitted.
        view : MarketView
            The book it would join (positions including orders already in flight).
        trading_state : str
            ACTIVE, REDUCING or HALTED (Nautilus's names); anything else denies.
        """
        return self._check(intent, view, trading_state, self._rate)

    def record_sent(self, intent: OrderIntent) -> None:
        """Count ``intent`` in the velocity windows: call it for each order actually sent."""
        self._rate.record(intent.strategy_id, intent.ts_ns)

    def next_send_ns(self, strategy_id: str, ts_ns: int) -> int:
        """When one more order of ``strategy_id`` may go and stay under the velocity limits
        with their warning margin (``OrderRate.next_send_ns``): ``ts_ns`` when it may now."""
        return self._rate.next_send_ns(strategy_id, ts_ns)

    def admit(self, intent: OrderIntent, view: MarketView, trading_state: str) -> RiskVerdict:
        """``check``, then ``record_sent`` if allowed: for a caller that sends every allowed
        order at once (the strategy, right before ``submit_order``)."""
        verdict = self._check(intent, view, trading_state, self._rate)
        if verdict.allowed and not intent.worked:
            self._rate.record(intent.strategy_id, intent.ts_ns)
        return verdict

    def check_batch(
        self, intents: Sequence[OrderIntent], view: MarketView, trading_state: str
    ) -> list[RiskVerdict]:
        """The verdict of each order of a batch sent in this order (a rebalance, a preview).

        Each is checked against the view the allowed ones before it leave (as if they filled)
        and against velocity windows that count them; nothing is recorded, so the preview of a
        batch costs none of the rate the real send will use.
        """
        rate = self._rate.copy()
        verdicts: list[RiskVerdict] = []
        for intent in intents:
            verdict = self._check(intent, view, trading_state, rate)
            if verdict.allowed:
                if not intent.worked:
                    rate.record(intent.strategy_id, intent.ts_ns)
                view = view.after(intent)
            verdicts.append(verdict)
        return verdicts

    def alerts(self, intent: OrderIntent, verdict: RiskVerdict) -> list[RiskAlert]:
        """The OMS alerts of a verdict: the denial (ERROR) or the warnings (WARNING), each
        with the order's side, quantity, type and price in ``details``."""
        found = [] if verdict.denial is None else [(verdict.denial, DENIAL_SEVERITY)]
        found.extend((warning, WARNING_SEVERITY) for warning in verdict.warnings)
        extra = {
            "side": intent.side,
            "quantity": intent.quantity,
            "order_type": intent.order_type,
            "limit_price": intent.limit_price,
            "expected_price": intent.expected_price,
            "allowed": verdict.allowed,
        }
        return [
            breach_alert(
                breach,
                intent.ts_ns,
                severity,
                instrument_id=intent.instrument_id,
                strategy_id=intent.strategy_id,
                extra=extra,
            )
            for breach, severity in found
        ]

    def _check(
        self, intent: OrderIntent, view: MarketView, state: str, rate: OrderRate
    ) -> RiskVerdict:
        if state == "HALTED":
            return _deny(rules.trading_state(state, intent, 0.0, False))
        instrument_id = intent.instrument_id
        reference = view.references.get(instrument_id)
        if reference is None:
            held = "" if instrument_id in view.instruments else " (not in the market view)"
            return _deny(
                RiskBreach(Rule.NO_PRICE, f"no price for {instrument_id}: no last or mid{held}")
            )
        before = view.net_quantity.get(instrument_id, 0.0)
        reducing = _reduces(before, intent.signed_quantity)
        if state != "ACTIVE":
            breach = rules.trading_state(state, intent, before, reducing)
            if breach is not None:
                return _deny(breach)
        config = self.config
        warn_at = self._warn_at
        warnings: list[RiskBreach] = []
        market = view.instruments[instrument_id]
        if intent.limit_price is not None:
            price = intent.limit_price
        elif intent.expected_price is not None:
            price = intent.expected_price
        else:
            price = reference
        notional = intent.quantity * price * market.multiplier
        breach = rules.venue_minimums(intent, market.rules, notional)
        if breach is not None:
            return _deny(breach)
        if not reducing and not intent.worked:
            breach = rules.order_caps(
                intent,
                notional,
                self._max_order_quantity.get(instrument_id),
                config.max_order_notional,
                warn_at,
                warnings,
            )
            if breach is not None:
                return _deny(breach)
        breach = rules.price_tolerance(
            intent, price, reference, config.price_tolerance_bps, warn_at, warnings
        )
        if breach is not None:
            return _deny(breach)
        if not reducing:
            breach = rules.position_limits(
                intent,
                view,
                reference,
                self._max_position_quantity.get(instrument_id),
                config.max_position_notional,
                config.max_strategy_notional,
                config.max_global_notional,
                warn_at,
                warnings,
            )
            if breach is not None:
                return _deny(breach)
            breach = rules.exposure_limits(
                intent,
                view,
                reference,
                config.max_gross_exposure,
                config.max_net_exposure,
                warn_at,
                warnings,
            )
            if breach is not None:
                return _deny(breach)
        if not intent.worked:
            breach = rate.check(intent.strategy_id, intent.ts_ns, warnings)
            if breach is not None:
                return _deny(breach)
        return RiskVerdict(True, None, tuple(warnings)) if warnings else ALLOWED


def _deny(breach: RiskBreach) -> RiskVerdict:
    return RiskVerdict(False, breach)


def _reduces(before: float, signed: float) -> bool:
    # Smaller in absolute value, same side or flat; a remainder within float noise of zero on
    # the other side (0.3 held, 0.30000000000000004 sold) counts as flat, not as a flip.
    slack = abs(before) * 1e-9
    if before > 0:
        return signed < 0 and before + signed >= -slack
    if before < 0:
        return signed > 0 and before + signed <= slack
    return False
