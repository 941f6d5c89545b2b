"""The pre-trade rules, one function per family, each returning the breach that denies or None.

Every rule that has a ceiling goes through :func:`ceiling`: exactly at the limit passes, beyond
it denies, and from ``warn_at`` of it an allowed order carries a warning. Comparisons allow a
relative slack of 1e-9, so that a value computed in floating point (``1.5 * 100_000``) that is
the limit is not denied for its last bit. Messages are formatted only when a rule fires: the
common path of an order that passes builds no strings.
"""

from __future__ import annotations

import math

from core.portfolio.rebalance import InstrumentRules
from core.risk.market import MarketView, OrderIntent
from core.risk.verdict import RiskBreach, Rule

OVER = 1 + 1e-9
"""A value denies only beyond ``limit * OVER``: float noise at the limit passes."""
UNDER = 1 - 1e-9
"""A value warns from ``warn_at * limit * UNDER``, and a minimum denies below ``min * UNDER``."""
LOT_SLACK = 1e-9
"""How far (in lots) a quantity may sit from the lot grid: 0.3 / 0.1 is 2.9999999999999996."""

_UNITS = {
    "quantity": lambda v: format(v, ".10g"),
    "notional": lambda v: f"{v:,.2f}",
    "exposure": lambda v: f"{v:.2%}",
    "bps": lambda v: f"{v:.1f} bps",
}


def ceiling(
    rule: Rule,
    value: float,
    limit: float,
    warn_at: float,
    warnings: list[RiskBreach],
    unit: str,
    what: str,
    *names: str,
) -> RiskBreach | None:
    """Deny ``value`` beyond ``limit``; warn from ``warn_at`` of it.

    ``what`` names the measure (a ``str.format`` template filled with ``names`` only when the
    rule fires).
    """
    if value > limit * OVER:
        shown = _UNITS[unit]
        return RiskBreach(
            rule,
            f"{what.format(*names)} {shown(value)} is over the limit {shown(limit)}",
            value,
            limit,
        )
    if value >= limit * warn_at * UNDER:
        shown = _UNITS[unit]
        warnings.append(
            RiskBreach(
                rule,
                f"{what.format(*names)} {shown(value)} is {value / limit:.0%} of the limit "
                f"{shown(limit)}",
                value,
                limit,
            )
        )
    return None


def trading_state(
    state: str, intent: OrderIntent, before: float, reducing: bool
) -> RiskBreach | None:
    """HALTED denies everything; REDUCING passes only orders that shrink the instrument's
    position without crossing zero; ACTIVE passes all; any other state denies (fail closed)."""
    if state == "ACTIVE":
        return None
    if state == "HALTED":
        return RiskBreach(Rule.TRADING_STATE, "trading is HALTED: no order passes")
    if state == "REDUCING":
        if reducing:
            return None
        return RiskBreach(
            Rule.TRADING_STATE,
            f"trading is REDUCING: {intent.side} {intent.quantity:.10g} would not reduce the "
            f"position of {before:.10g} in {intent.instrument_id}",
        )
    return RiskBreach(Rule.TRADING_STATE, f"unknown trading state {state!r}: no order passes")


def venue_minimums(
    intent: OrderIntent, rules: InstrumentRules | None, notional: float
) -> RiskBreach | None:
    """The instrument's minimum quantity, lot size and minimum notional: what the venue would
    reject anyway, denied here with a reason the operator can read."""
    if rules is None:
        return None
    quantity = intent.quantity
    if rules.min_quantity > 0 and quantity < rules.min_quantity * UNDER:
        return RiskBreach(
            Rule.ORDER_MIN_QUANTITY,
            f"quantity {quantity:.10g} of {intent.instrument_id} is below its minimum "
            f"{rules.min_quantity:.10g}",
            quantity,
            rules.min_quantity,
        )
    if rules.lot_size > 0:
        lots = quantity / rules.lot_size
        if abs(lots - round(lots)) > LOT_SLACK * max(1.0, lots):
            return RiskBreach(
                Rule.ORDER_LOT_SIZE,
                f"quantity {quantity:.10g} of {intent.instrument_id} is not a multiple of its "
                f"lot size {rules.lot_size:.10g}",
                quantity,
                rules.lot_size,
            )
    if rules.min_notional > 0 and notional < rules.min_notional * UNDER:
        return RiskBreach(
            Rule.ORDER_MIN_NOTIONAL,
            f"order notional {notional:,.2f} in {intent.instrument_id} is below its minimum "
            f"{rules.min_notional:,.2f}",
            notional,
            rules.min_notional,
        )
    return None


def order_caps(
    intent: OrderIntent,
    notional: float,
    max_quantity: float | None,
    max_notional: float,
    warn_at: float,
    warnings: list[RiskBreach],
) -> RiskBreach | None:
    """The desk's largest single order, in quantity (per instrument) and in notional."""
    if max_quantity is not None:
        breach = ceiling(
            Rule.ORDER_MAX_QUANTITY,
            intent.quantity,
            max_quantity,
            warn_at,
            warnings,
            "quantity",
            "order quantity in {}",
            intent.instrument_id,
        )
        if breach is not None:
            return breach
    if max_notional > 0:
        return ceiling(
            Rule.ORDER_MAX_NOTIONAL,
            notional,
            max_notional,
            warn_at,
            warnings,
            "notional",
            "order notional in {}",
            intent.instrument_id,
        )
    return None


def price_tolerance(
    intent: OrderIntent,
    price: float,
    reference: float,
    tolerance_bps: float,
    warn_at: float,
    warnings: list[RiskBreach],
) -> RiskBreach | None:
    """A limit price, or a market order's expected fill, too far from the reference price
    (last, else mid), either side: a fat finger or a stale price."""
    if tolerance_bps <= 0:
        return None
    distance = abs(price - reference) / reference * 10_000
    kind = "limit price" if intent.order_type == "LIMIT" else "expected fill"
    return ceiling(
        Rule.PRICE_TOLERANCE,
        distance,
        tolerance_bps,
        warn_at,
        warnings,
        "bps",
        "{} {} in {} vs reference {}: distance",
        kind,
        format(price, ".10g"),
        intent.instrument_id,
        format(reference, ".10g"),
    )


def position_limits(
    intent: OrderIntent,
    view: MarketView,
    reference: float,
    max_quantity: float | None,
    max_notional: float,
    max_strategy: float,
    max_global: float,
    warn_at: float,
    warnings: list[RiskBreach],
) -> RiskBreach | None:
    """The positions after the order: the instrument's (all strategies netted), in quantity
    and notional; the strategy's and the desk's sums of absolute positions, in notional."""
    instrument_id = intent.instrument_id
    signed = intent.signed_quantity
    after = view.net_quantity.get(instrument_id, 0.0) + signed
    unit_value = reference * view.instruments[instrument_id].multiplier
    if max_quantity is not None:
        breach = ceiling(
            Rule.POSITION_QUANTITY,
            abs(after),
            max_quantity,
            warn_at,
            warnings,
            "quantity",
            "position in {} after the order",
            instrument_id,
        )
        if breach is not None:
            return breach
    if max_notional > 0:
        breach = ceiling(
            Rule.POSITION_NOTIONAL,
            abs(after) * unit_value,
            max_notional,
            warn_at,
            warnings,
            "notional",
            "position in {} after the order",
            instrument_id,
        )
        if breach is not None:
            return breach
    if max_strategy <= 0 and max_global <= 0:
        return None
    strategy_id = intent.strategy_id
    own = view.positions.get((strategy_id, instrument_id), 0.0)
    growth = (abs(own + signed) - abs(own)) * unit_value
    if max_strategy > 0:
        unpriced = view.strategy_unpriced.get(strategy_id)
        if unpriced is not None:
            return _unvalued(Rule.STRATEGY_NOTIONAL, unpriced, f"strategy {strategy_id}'s notional")
        breach = ceiling(
            Rule.STRATEGY_NOTIONAL,
            view.strategy_notional.get(strategy_id, 0.0) + growth,
            max_strategy,
            warn_at,
            warnings,
            "notional",
            "notional of strategy {} after the order",
            strategy_id,
        )
        if breach is not None:
            return breach
    if max_global > 0:
        if view.unpriced is not None:
            return _unvalued(Rule.GLOBAL_NOTIONAL, view.unpriced, "the desk's notional")
        return ceiling(
            Rule.GLOBAL_NOTIONAL,
            view.global_notional + growth,
            max_global,
            warn_at,
            warnings,
            "notional",
            "notional of all strategies after the order",
        )
    return None


def exposure_limits(
    intent: OrderIntent,
    view: MarketView,
    reference: float,
    max_gross: float,
    max_net: float,
    warn_at: float,
    warnings: list[RiskBreach],
) -> RiskBreach | None:
    """The account's gross and net notional after the order, over equity."""
    if max_gross <= 0 and max_net <= 0:
        return None
    rule = Rule.GROSS_EXPOSURE if max_gross > 0 else Rule.NET_EXPOSURE
    if view.unpriced is not None:
        return _unvalued(rule, view.unpriced, "the exposure")
    equity = view.equity
    if not (equity > 0 and math.isfinite(equity)):
        return RiskBreach(rule, f"equity is {equity!r}: the exposure cannot be measured")
    instrument_id = intent.instrument_id
    unit_value = reference * view.instruments[instrument_id].multiplier
    before = view.net_quantity.get(instrument_id, 0.0)
    after = before + intent.signed_quantity
    if max_gross > 0:
        gross = view.account_gross + (abs(after) - abs(before)) * unit_value
        breach = ceiling(
            Rule.GROSS_EXPOSURE,
            gross / equity,
            max_gross,
            warn_at,
            warnings,
            "exposure",
            "gross exposure over equity after the order",
        )
        if breach is not None:
            return breach
    if max_net > 0:
        net = abs(view.account_net + intent.signed_quantity * unit_value)
        return ceiling(
            Rule.NET_EXPOSURE,
            net / equity,
            max_net,
            warn_at,
            warnings,
            "exposure",
            "net exposure over equity after the order",
        )
    return None


def _unvalued(rule: Rule, instrument_id: str, what: str) -> RiskBreach:
    return RiskBreach(rule, f"no price for {instrument_id}: {what} cannot be measured")
