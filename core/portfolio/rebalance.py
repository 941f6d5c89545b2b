"""Rebalance arithmetic: from current holdings and target weights to the orders that close the gap.

Pure functions with no Nautilus types, so that the backtest strategy, the live strategy and the
console's rebalance preview all compute the same orders from the same numbers, and so that the
rules (lot size, minimum quantity and notional, dust, cash) are tested by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Skip(StrEnum):
    """Why a line of the rebalance produced no order."""

    NO_PRICE = "no price"
    WITHIN_TOLERANCE = "within tolerance"
    BELOW_LOT = "below lot size"
    BELOW_MIN_QUANTITY = "below min quantity"
    BELOW_MIN_NOTIONAL = "below min notional"
    DUST = "dust"
    NO_CASH = "no cash"


@dataclass(frozen=True)
class InstrumentRules:
    """What the venue demands of an order in one instrument."""

    lot_size: float
    size_precision: int
    min_quantity: float
    min_notional: float
    taker_fee: float


@dataclass(frozen=True)
class RebalanceSettings:
    """The desk's thresholds (see ``StrategyConfig``)."""

    min_trade_notional: float = 10.0
    weight_tolerance: float = 0.0005
    cash_buffer: float = 0.002
    allow_short: bool = False


@dataclass(frozen=True)
class RebalanceLine:
    """One instrument's part of a rebalance: where it is, where it should be, what to send."""

    instrument_id: str
    price: float | None
    current_quantity: float
    current_weight: float
    target_weight: float
    side: str | None  # "BUY" / "SELL", None when skipped
    quantity: float  # unsigned, on the lot grid; 0 when skipped
    skip: Skip | None

    @property
    def notional(self) -> float:
        """Order value in the valuation currency."""
        return 0.0 if self.price is None else self.quantity * self.price


def _floor_to_lot(quantity: float, rules: InstrumentRules) -> float:
    # Floor, never round: an order may fall short of target by a lot, never overshoot it.
    lots = math.floor(quantity / rules.lot_size + 1e-9)
    return round(lots * rules.lot_size, rules.size_precision)


def plan_rebalance(
    targets: Mapping[str, float],
    holdings: Mapping[str, float],
    prices: Mapping[str, float | None],
    rules: Mapping[str, InstrumentRules],
    equity: float,
    free_cash: float,
    settings: RebalanceSettings,
) -> list[RebalanceLine]:
    """Plan the orders that bring ``holdings`` to ``targets`` (weights of ``equity``).

    Sells come first in the result, so that a cash account frees cash before it buys; buys are
    scaled down together when the free cash (after sells, fees and the cash buffer) does not cover
    them. Instruments held but absent from ``targets`` keep their position.

    Parameters
    ----------
    targets : Mapping[str, float]
        Target weight per instrument id (fraction of equity; negative is short).
    holdings : Mapping[str, float]
        Signed quantity held per instrument id.
    prices : Mapping[str, float | None]
        Price the decision is made at (last trade or mid); None when none is known yet.
    rules : Mapping[str, InstrumentRules]
        Lot size, minimums and fees per instrument id.
    equity : float
        Portfolio value in the valuation currency.
    free_cash : float
        Cash available to buy with (valuation currency).
    settings : RebalanceSettings
        Dust and tolerance thresholds.
    """
    sells: list[RebalanceLine] = []
    buys: list[RebalanceLine] = []
    skipped: list[RebalanceLine] = []
    for instrument_id, target in targets.items():
        held = holdings.get(instrument_id, 0.0)
        price = prices.get(instrument_id)
        if price is None or not price > 0 or equity <= 0:
            line = RebalanceLine(instrument_id, price, held, 0.0, target, None, 0.0, Skip.NO_PRICE)
            skipped.append(line)
            continue
        current = held * price / equity
        wanted = target if settings.allow_short else max(target, 0.0)
        delta = (wanted - current) * equity / price
        side = "BUY" if delta > 0 else "SELL"
        if side == "SELL" and not settings.allow_short:
            delta = -min(-delta, max(held, 0.0))
        quantity = _floor_to_lot(abs(delta), rules[instrument_id])
        skip = _why_skip(quantity, price, abs(wanted - current), rules[instrument_id], settings)
        line = RebalanceLine(
            instrument_id,
            price,
            held,
            current,
            target,
            None if skip else side,
            0.0 if skip else quantity,
            skip,
        )
        (skipped if skip else sells if side == "SELL" else buys).append(line)
    budget = free_cash - settings.cash_buffer * equity
    for line in sells:
        budget += line.notional * (1 - rules[line.instrument_id].taker_fee)
    return sells + _fit_buys_to_cash(buys, budget, rules, settings) + skipped


def _why_skip(
    quantity: float,
    price: float,
    weight_gap: float,
    rules: InstrumentRules,
    settings: RebalanceSettings,
) -> Skip | None:
    if weight_gap <= settings.weight_tolerance:
        return Skip.WITHIN_TOLERANCE
    if quantity <= 0:
        return Skip.BELOW_LOT
    if quantity < rules.min_quantity:
        return Skip.BELOW_MIN_QUANTITY
    if quantity * price < rules.min_notional:
        return Skip.BELOW_MIN_NOTIONAL
    if quantity * price < settings.min_trade_notional:
        return Skip.DUST
    return None


def _fit_buys_to_cash(
    buys: list[RebalanceLine],
    budget: float,
    rules: Mapping[str, InstrumentRules],
    settings: RebalanceSettings,
) -> list[RebalanceLine]:
    cost = sum(line.notional * (1 + rules[line.instrument_id].taker_fee) for line in buys)
    if cost <= budget or cost == 0:
        return buys
    scale = max(budget, 0.0) / cost
    fitted: list[RebalanceLine] = []
    for line in buys:
        instrument = rules[line.instrument_id]
        assert line.price is not None
        quantity = _floor_to_lot(line.quantity * scale, instrument)
        skip = _why_skip(quantity, line.price, math.inf, instrument, settings)
        if skip is not None:
            skip = Skip.NO_CASH
        fitted.append(
            RebalanceLine(
                line.instrument_id,
                line.price,
                line.current_quantity,
                line.current_weight,
                line.target_weight,
                None if skip else "BUY",
                0.0 if skip else quantity,
                skip,
            )
        )
    return fitted
