"""Average-cost PnL: realized on what a fill closes, unrealized at the mark, fees apart."""

from __future__ import annotations

import pytest

from core.portfolio.pnl import Ledger

BTC = "BTCUSDT.BINANCE"


def test_a_sale_realizes_against_the_average_cost_and_fees_stay_apart() -> None:
    ledger = Ledger()
    ledger.fill(BTC, 1.0, 100.0, 0.1)
    ledger.fill(BTC, 1.0, 110.0, 0.1)
    ledger.fill(BTC, -0.5, 120.0, 0.05)
    holding = ledger.holding(BTC)
    assert holding.average_cost == pytest.approx(105.0)
    assert holding.quantity == 1.5
    assert holding.realized == pytest.approx(0.5 * 15.0)  # gross: fees are not taken off
    assert holding.fees == pytest.approx(0.25)
    assert holding.unrealized(100.0) == pytest.approx(1.5 * -5.0)


def test_closing_in_parts_leaves_it_flat_not_a_rounding_error_short() -> None:
    ledger = Ledger()
    ledger.fill(BTC, 0.3, 100.0, 0.0)
    for _ in range(3):
        ledger.fill(BTC, -0.1, 101.0, 0.0)
    holding = ledger.holding(BTC)
    assert (holding.quantity, holding.average_cost) == (0.0, 0.0)
    assert holding.realized == pytest.approx(0.3)
    assert holding.unrealized(500.0) == 0.0


def test_a_fill_through_zero_opens_the_rest_at_its_price() -> None:
    ledger = Ledger()
    ledger.fill(BTC, 1.0, 100.0, 0.0)
    ledger.fill(BTC, -3.0, 90.0, 0.0)
    holding = ledger.holding(BTC)
    assert holding.realized == pytest.approx(-10.0)
    assert (holding.quantity, holding.average_cost) == (-2.0, 90.0)
    assert holding.unrealized(80.0) == pytest.approx(20.0)  # short gains as it falls


def test_a_holding_carried_in_costs_its_mark_so_the_period_shows_only_its_own_moves() -> None:
    ledger = Ledger()
    ledger.carry_in(BTC, 2.0, 50.0)
    ledger.fill(BTC, -1.0, 55.0, 0.5)
    holding = ledger.holding(BTC)
    assert holding.realized == pytest.approx(5.0)
    assert holding.unrealized(60.0) == pytest.approx(10.0)


def test_cash_and_marks_reconcile_exactly_with_realized_unrealized_and_fees() -> None:
    # A cash account: cash moves by -qty x price - fee; equity = cash + qty x mark.
    fills = [
        (0.7, 94_000.0, 6.58),
        (-0.2, 95_100.5, 1.9),
        (0.05, 93_900.0, 0.47),
        (-0.55, 96_000.0, 5.28),
    ]
    ledger = Ledger()
    ledger.carry_in(BTC, 0.1, 93_000.0)
    cash, held = 10_000.0, 0.1
    start = cash + held * 93_000.0
    for quantity, price, fee in fills:
        ledger.fill(BTC, quantity, price, fee)
        cash -= quantity * price + fee
        held += quantity
    mark = 95_500.0
    holding = ledger.holding(BTC)
    explained = holding.realized + holding.unrealized(mark) - holding.fees + holding.funding
    assert cash + held * mark - start == pytest.approx(explained, abs=1e-6)
