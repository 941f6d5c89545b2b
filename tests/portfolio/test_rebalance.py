"""plan_rebalance by hand: every rule that turns a weight gap into an order, or into none."""

from __future__ import annotations

import math

import pytest

from core.portfolio.rebalance import (
    InstrumentRules,
    RebalanceLine,
    RebalanceSettings,
    Skip,
    plan_rebalance,
)

BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
# Binance spot: BTC lot 0.00001, ETH lot 0.0001, 5 USDT min notional, 0.1% taker fee.
BTC_RULES = InstrumentRules(
    lot_size=0.00001, size_precision=5, min_quantity=0.00001, min_notional=5.0, taker_fee=0.001
)
ETH_RULES = InstrumentRules(
    lot_size=0.0001, size_precision=4, min_quantity=0.0001, min_notional=5.0, taker_fee=0.001
)
RULES = {BTC: BTC_RULES, ETH: ETH_RULES}
PRICES = {BTC: 30_000.0, ETH: 2_000.0}
SETTINGS = RebalanceSettings()  # 10 USDT dust, 5 bps tolerance, 0.2% cash buffer, long only


def plan(
    targets: dict[str, float],
    holdings: dict[str, float] | None = None,
    prices: dict[str, float | None] | None = None,
    rules: dict[str, InstrumentRules] | None = None,
    equity: float = 100_000.0,
    free_cash: float | None = None,
    settings: RebalanceSettings = SETTINGS,
) -> dict[str, RebalanceLine]:
    lines = plan_rebalance(
        targets,
        holdings or {},
        PRICES if prices is None else prices,
        RULES if rules is None else rules,
        equity,
        equity if free_cash is None else free_cash,
        settings,
    )
    return {line.instrument_id: line for line in lines}


def test_quantity_is_floored_to_the_lot_never_rounded_up() -> None:
    # 50,000 USDT at 30,000 is 1.666666...: the lot grid gives 1.66666, not 1.66667.
    line = plan({BTC: 0.5})[BTC]
    assert (line.side, line.quantity, line.skip) == ("BUY", 1.66666, None)
    assert line.notional <= 50_000.0


def test_quantity_is_exactly_on_the_lot_grid() -> None:
    # 0.7 * 100,000 / 2,000 = 35 ETH exactly; float division must not floor it to 34.9999.
    line = plan({ETH: 0.7})[ETH]
    assert line.quantity == 35.0
    lots = plan({BTC: 0.123456})[BTC].quantity / BTC_RULES.lot_size
    assert lots == pytest.approx(round(lots), abs=1e-6)


def test_gap_smaller_than_one_lot_sends_nothing() -> None:
    coarse = InstrumentRules(
        lot_size=1.0, size_precision=0, min_quantity=1.0, min_notional=5.0, taker_fee=0.001
    )
    # 0.1% of 100,000 at 2,000 is 0.05 ETH: under one lot of 1.
    line = plan({ETH: 0.001}, rules={ETH: coarse})[ETH]
    assert (line.side, line.quantity, line.skip) == (None, 0.0, Skip.BELOW_LOT)


def test_quantity_below_the_minimum_quantity_sends_nothing() -> None:
    rules = {BTC: InstrumentRules(0.00001, 5, min_quantity=0.01, min_notional=5.0, taker_fee=0.0)}
    # 0.15% of 100,000 = 150 USDT = 0.005 BTC, under the 0.01 minimum.
    assert plan({BTC: 0.0015}, rules=rules)[BTC].skip == Skip.BELOW_MIN_QUANTITY
    # Twice the gap clears it.
    assert plan({BTC: 0.003}, rules=rules)[BTC].side == "BUY"


def test_notional_below_the_venue_minimum_sends_nothing() -> None:
    rules = {BTC: InstrumentRules(0.00001, 5, 0.00001, min_notional=200.0, taker_fee=0.0)}
    assert plan({BTC: 0.0015}, rules=rules)[BTC].skip == Skip.BELOW_MIN_NOTIONAL
    assert plan({BTC: 0.0025}, rules=rules)[BTC].side == "BUY"


def test_order_under_the_dust_threshold_is_skipped() -> None:
    # 0.08% of 10,000 = 8 USDT: above the venue's 5 USDT minimum, under the desk's 10 USDT.
    line = plan({ETH: 0.0008}, equity=10_000.0)[ETH]
    assert line.skip == Skip.DUST and line.side is None
    assert plan({ETH: 0.0012}, equity=10_000.0)[ETH].side == "BUY"  # 12 USDT


def test_weight_within_tolerance_is_left_alone() -> None:
    held = {BTC: 1.0}  # 30% of 100,000
    assert plan({BTC: 0.3004}, holdings=held)[BTC].skip == Skip.WITHIN_TOLERANCE
    assert plan({BTC: 0.2996}, holdings=held)[BTC].skip == Skip.WITHIN_TOLERANCE
    buy = plan({BTC: 0.3006}, holdings=held)[BTC]
    assert (buy.side, buy.current_weight) == ("BUY", pytest.approx(0.3))
    assert plan({BTC: 0.2994}, holdings=held)[BTC].side == "SELL"


def test_sells_come_before_buys() -> None:
    held = {BTC: 1.0}  # 30%
    lines = plan_rebalance(
        {ETH: 0.4, BTC: 0.1},  # the buy is listed first
        held,
        PRICES,
        RULES,
        100_000.0,
        70_000.0,
        SETTINGS,
    )
    assert [(line.instrument_id, line.side) for line in lines] == [(BTC, "SELL"), (ETH, "BUY")]
    assert lines[0].quantity == pytest.approx(2 / 3, abs=BTC_RULES.lot_size)


def test_buys_are_scaled_together_to_the_free_cash() -> None:
    # 60,000 USDT of buys wanted, 20,000 free: the budget keeps 0.2% of equity as a buffer.
    lines = plan({BTC: 0.3, ETH: 0.3}, free_cash=20_000.0)
    budget = 20_000.0 - SETTINGS.cash_buffer * 100_000.0
    cost = sum(line.notional * (1 + RULES[key].taker_fee) for key, line in lines.items())
    assert cost <= budget
    assert cost > budget - 10.0  # floored to lots, nearly all of it spent
    # Scaled together: each buy keeps its share of the wanted total.
    assert lines[BTC].notional == pytest.approx(lines[ETH].notional, rel=1e-3)


def test_sale_proceeds_fund_the_buys_after_fees() -> None:
    held = {BTC: 1.0}  # 30,000 USDT of BTC, no free cash
    lines = plan({BTC: 0.0, ETH: 0.5}, holdings=held, free_cash=0.0)
    assert (lines[BTC].side, lines[BTC].quantity) == ("SELL", 1.0)
    budget = 30_000.0 * (1 - BTC_RULES.taker_fee) - SETTINGS.cash_buffer * 100_000.0
    assert lines[ETH].side == "BUY"
    cost = lines[ETH].notional * (1 + ETH_RULES.taker_fee)
    assert budget - 10.0 < cost <= budget


def test_buys_without_cash_are_skipped() -> None:
    lines = plan({BTC: 0.3, ETH: 0.3}, free_cash=100.0)  # under the 200 USDT buffer
    assert {line.skip for line in lines.values()} == {Skip.NO_CASH}
    assert all(line.side is None and line.quantity == 0.0 for line in lines.values())


def test_long_only_never_sells_more_than_it_holds() -> None:
    # A negative target on a long-only book sells the holding, and no more.
    line = plan({BTC: -0.5}, holdings={BTC: 0.1})[BTC]
    assert (line.side, line.quantity) == ("SELL", 0.1)
    # Nothing held: nothing to sell, and no short opened.
    flat = plan({BTC: -0.5})[BTC]
    assert flat.side is None and flat.skip == Skip.WITHIN_TOLERANCE


def test_short_is_planned_only_when_allowed() -> None:
    line = plan({BTC: -0.3}, settings=RebalanceSettings(allow_short=True))[BTC]
    assert (line.side, line.quantity) == ("SELL", 1.0)


@pytest.mark.parametrize("price", [None, 0.0, math.nan])
def test_instrument_without_a_price_is_skipped(price: float | None) -> None:
    lines = plan({BTC: 0.3, ETH: 0.3}, prices={BTC: price, ETH: 2_000.0})
    assert lines[BTC].skip == Skip.NO_PRICE and lines[BTC].side is None
    assert lines[ETH].side == "BUY"  # the others still trade


def test_holdings_without_a_target_are_left_alone() -> None:
    lines = plan({ETH: 0.2}, holdings={BTC: 1.0})
    assert set(lines) == {ETH}
