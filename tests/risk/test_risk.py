"""The pre-trade risk engine: each rule at its boundary, warnings, velocity windows, trading
states, reducing orders, and the alerts it writes to a real OMS."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import RiskConfig
from core.errors import ConfigError
from core.oms import OmsStore
from core.portfolio.rebalance import InstrumentRules
from core.risk import (
    InstrumentMarket,
    MarketView,
    OrderIntent,
    PreTradeRisk,
    RiskBreach,
    RiskVerdict,
    Rule,
    breach_alert,
)

T0 = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns
SECOND = 1_000_000_000
BTC = "BTCUSDT.BINANCE"
ETH = "ETHUSDT.BINANCE"
S1 = "REBAL-001"
S2 = "REBAL-002"

OFF = {
    "max_orders_per_second": 0,
    "max_orders_per_minute": 0,
    "max_orders_per_second_total": 0,
    "max_orders_per_minute_total": 0,
    "max_position_notional": 0.0,
    "max_strategy_notional": 0.0,
    "max_global_notional": 0.0,
    "max_gross_exposure": 0.0,
    "max_net_exposure": 0.0,
    "max_order_notional": 0.0,
    "price_tolerance_bps": 0.0,
}
"""Every check that can be switched off, off: each test turns on the one it is about."""


def risk(**limits: object) -> PreTradeRisk:
    return PreTradeRisk(RiskConfig(**{**OFF, **limits}))


def order(
    quantity: float,
    side: str = "BUY",
    instrument_id: str = BTC,
    strategy_id: str = S1,
    ts_ns: int = T0,
    limit_price: float | None = None,
    expected_price: float | None = None,
) -> OrderIntent:
    return OrderIntent(
        strategy_id=strategy_id,
        instrument_id=instrument_id,
        side=side,
        quantity=quantity,
        order_type="MARKET" if limit_price is None else "LIMIT",
        ts_ns=ts_ns,
        limit_price=limit_price,
        expected_price=expected_price,
    )


def view(
    positions: dict[tuple[str, str], float] | None = None,
    equity: float = 100_000.0,
    btc: InstrumentMarket | None = None,
    eth: InstrumentMarket | None = None,
) -> MarketView:
    """BTC at 50,000 and ETH at 2,000 (last), no venue rules unless given."""
    return MarketView(
        equity,
        positions or {},
        {
            BTC: btc or InstrumentMarket(last=50_000.0),
            ETH: eth or InstrumentMarket(last=2_000.0),
        },
    )


def denied_by(verdict: RiskVerdict) -> str | None:
    return None if verdict.denial is None else str(verdict.denial.rule)


def warned_of(verdict: RiskVerdict) -> list[str]:
    return [str(w.rule) for w in verdict.warnings]


# -- defaults and configuration ------------------------------------------------------------------


def test_an_ordinary_order_passes_the_default_limits_without_warnings() -> None:
    verdict = PreTradeRisk(RiskConfig()).check(order(0.2), view(), "ACTIVE")
    assert verdict == RiskVerdict(True)
    assert verdict.reason is None


def test_contradictory_limits_are_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"risk\.max_net_exposure: 2 is above"):
        PreTradeRisk(RiskConfig(max_net_exposure=2.0, max_gross_exposure=1.5))


def test_a_limit_of_zero_switches_its_check_off() -> None:
    huge = order(1_000.0)  # 50 M of BTC on 100 k of equity
    assert risk().check(huge, view(), "ACTIVE").allowed
    assert denied_by(risk(max_order_notional=1e6).check(huge, view(), "ACTIVE")) == (
        "order_max_notional"
    )


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"side": "HOLD"}, "side"),
        ({"quantity": 0.0}, "quantity"),
        ({"quantity": float("nan")}, "quantity"),
        ({"order_type": "LIMIT"}, "limit_price"),
        ({"limit_price": 1.0}, "limit_price"),
        ({"order_type": "STOP"}, "order_type"),
        ({"expected_price": -1.0}, "expected_price"),
    ],
)
def test_a_malformed_intent_is_refused_naming_the_field(fields: dict, problem: str) -> None:
    base = {
        "strategy_id": S1,
        "instrument_id": BTC,
        "side": "BUY",
        "quantity": 1.0,
        "order_type": "MARKET",
        "ts_ns": T0,
    }
    with pytest.raises(ValueError, match=rf"OrderIntent\.{problem}"):
        OrderIntent(**{**base, **fields})


# -- order size --------------------------------------------------------------------------------


def test_max_order_notional_passes_at_the_limit_and_denies_just_over() -> None:
    engine = risk(max_order_notional=100_000.0)
    assert engine.check(order(2.0), view(), "ACTIVE").allowed  # 2 x 50,000 = the limit
    verdict = engine.check(order(2.0001), view(), "ACTIVE")
    assert denied_by(verdict) == "order_max_notional"
    assert verdict.denial == RiskBreach(
        Rule.ORDER_MAX_NOTIONAL,
        f"order notional in {BTC} 100,005.00 is over the limit 100,000.00",
        pytest.approx(100_005.0),
        100_000.0,
    )


def test_a_worked_parent_skips_the_order_caps_and_velocity_but_not_the_position_limits() -> None:
    engine = risk(max_order_notional=10_000.0, max_orders_per_second=1, max_position_notional=1e5)
    parent = dataclasses.replace(order(1.0), worked=True)  # 50,000: five times the order cap
    assert engine.admit(parent, view(), "ACTIVE").allowed
    assert engine.admit(parent, view(), "ACTIVE").allowed  # not counted: its children will be
    assert engine.admit(order(0.1), view(), "ACTIVE").allowed
    assert denied_by(engine.check(order(0.1), view(), "ACTIVE")) == "velocity_strategy_second"
    too_big = dataclasses.replace(order(2.5), worked=True)  # 125,000 of position: over the limit
    assert denied_by(engine.check(too_big, view(), "ACTIVE")) == "position_notional"
    assert denied_by(engine.check(parent, view(), "HALTED")) == "trading_state"


def test_max_order_quantity_applies_to_its_instrument_only() -> None:
    engine = risk(max_order_quantity={BTC: 1.5})
    assert engine.check(order(1.5), view(), "ACTIVE").allowed
    assert denied_by(engine.check(order(1.51), view(), "ACTIVE")) == "order_max_quantity"
    assert engine.check(order(1_000.0, instrument_id=ETH), view(), "ACTIVE").allowed


def test_order_notional_is_at_the_limit_price_else_the_expected_fill_else_the_reference() -> None:
    engine = risk(max_order_notional=100_000.0)
    assert engine.check(order(2.0, limit_price=49_000.0), view(), "ACTIVE").allowed
    assert not engine.check(order(2.0, limit_price=51_000.0), view(), "ACTIVE").allowed
    assert not engine.check(order(2.0, expected_price=50_100.0), view(), "ACTIVE").allowed
    assert engine.check(order(2.0), view(), "ACTIVE").allowed


def test_min_quantity_denies_below_it_and_passes_at_it() -> None:
    rules = InstrumentRules(
        lot_size=0.001, size_precision=3, min_quantity=0.01, min_notional=0.0, taker_fee=0.001
    )
    market = view(btc=InstrumentMarket(last=50_000.0, rules=rules))
    assert risk().check(order(0.01), market, "ACTIVE").allowed
    verdict = risk().check(order(0.009), market, "ACTIVE")
    assert denied_by(verdict) == "order_min_quantity"
    assert verdict.reason == (
        f"order_min_quantity: quantity 0.009 of {BTC} is below its minimum 0.01"
    )


def test_lot_size_tolerates_float_noise_but_denies_a_quantity_off_the_grid() -> None:
    rules = InstrumentRules(
        lot_size=0.1, size_precision=1, min_quantity=0.0, min_notional=0.0, taker_fee=0.0
    )
    market = view(eth=InstrumentMarket(last=2_000.0, rules=rules))
    assert 0.3 / 0.1 != 3  # the noise the check must forgive
    assert risk().check(order(0.3, instrument_id=ETH), market, "ACTIVE").allowed
    assert risk().check(order(0.1 + 0.2, instrument_id=ETH), market, "ACTIVE").allowed
    verdict = risk().check(order(0.35, instrument_id=ETH), market, "ACTIVE")
    assert denied_by(verdict) == "order_lot_size"
    assert "not a multiple of its lot size 0.1" in verdict.denial.message


def test_min_notional_denies_below_it_and_passes_at_it() -> None:
    rules = InstrumentRules(
        lot_size=0.0, size_precision=8, min_quantity=0.0, min_notional=10.0, taker_fee=0.0
    )
    market = view(btc=InstrumentMarket(last=50_000.0, rules=rules))
    assert risk().check(order(0.0002), market, "ACTIVE").allowed  # 10.00
    assert denied_by(risk().check(order(0.00019), market, "ACTIVE")) == "order_min_notional"


def test_venue_minimums_apply_to_reducing_orders_too() -> None:
    # The venue would reject the order anyway: better denied here, with a readable reason.
    rules = InstrumentRules(
        lot_size=0.001, size_precision=3, min_quantity=0.01, min_notional=0.0, taker_fee=0.0
    )
    market = view({(S1, BTC): 1.0}, btc=InstrumentMarket(last=50_000.0, rules=rules))
    verdict = risk().check(order(0.005, side="SELL"), market, "ACTIVE")
    assert denied_by(verdict) == "order_min_quantity"


# -- price tolerance and missing prices -----------------------------------------------------------


def test_a_limit_price_at_the_tolerance_passes_and_beyond_it_is_denied_on_either_side() -> None:
    engine = risk(price_tolerance_bps=100.0)
    assert engine.check(order(0.1, limit_price=50_500.0), view(), "ACTIVE").allowed
    assert engine.check(order(0.1, limit_price=49_500.0), view(), "ACTIVE").allowed
    above = engine.check(order(0.1, limit_price=50_501.0), view(), "ACTIVE")
    below = engine.check(order(0.1, side="SELL", limit_price=49_499.0), view(), "ACTIVE")
    assert (denied_by(above), denied_by(below)) == ("price_tolerance", "price_tolerance")
    assert above.reason == (
        f"price_tolerance: limit price 50501 in {BTC} vs reference 50000: distance 100.2 bps "
        "is over the limit 100.0 bps"
    )


def test_a_market_orders_expected_fill_is_held_to_the_tolerance() -> None:
    engine = risk(price_tolerance_bps=50.0)
    assert engine.check(order(0.1, expected_price=50_250.0), view(), "ACTIVE").allowed
    verdict = engine.check(order(0.1, expected_price=50_300.0), view(), "ACTIVE")
    assert denied_by(verdict) == "price_tolerance"
    assert "expected fill 50300" in verdict.denial.message


def test_the_reference_is_the_last_price_else_the_mid() -> None:
    engine = risk(price_tolerance_bps=10.0)
    both = view(btc=InstrumentMarket(last=50_000.0, mid=50_100.0))
    mid_only = view(btc=InstrumentMarket(mid=50_100.0))
    limit = order(0.1, limit_price=50_100.0)
    assert not engine.check(limit, both, "ACTIVE").allowed  # 20 bps from the last
    assert engine.check(limit, mid_only, "ACTIVE").allowed  # at the mid


@pytest.mark.parametrize(
    "market",
    [InstrumentMarket(), InstrumentMarket(last=0.0, mid=float("nan"))],
    ids=["no prices", "unusable prices"],
)
def test_an_instrument_without_a_price_is_denied_naming_it(market: InstrumentMarket) -> None:
    verdict = risk().check(order(0.1), view(btc=market), "ACTIVE")
    assert verdict.reason == f"no_price: no price for {BTC}: no last or mid"


def test_an_instrument_missing_from_the_view_is_denied_as_unpriced() -> None:
    verdict = risk().check(order(0.1, instrument_id="SOLUSDT.BINANCE"), view(), "ACTIVE")
    assert denied_by(verdict) == "no_price"
    assert "not in the market view" in verdict.denial.message


# -- position limits -----------------------------------------------------------------------------


def test_position_quantity_is_measured_after_the_order_and_netted_across_strategies() -> None:
    engine = risk(max_position_quantity={BTC: 1.0})
    held = view({(S1, BTC): 0.5, (S2, BTC): 0.2})
    assert engine.check(order(0.3), held, "ACTIVE").allowed  # 1.0 after: the limit
    verdict = engine.check(order(0.31), held, "ACTIVE")
    assert denied_by(verdict) == "position_quantity"
    assert verdict.denial.value == pytest.approx(1.01)
    assert engine.check(order(100.0, instrument_id=ETH), held, "ACTIVE").allowed  # no limit


def test_position_quantity_limits_a_short_as_a_long() -> None:
    engine = risk(max_position_quantity={BTC: 1.0})
    assert engine.check(order(1.0, side="SELL"), view(), "ACTIVE").allowed
    assert denied_by(engine.check(order(1.1, side="SELL"), view(), "ACTIVE")) == (
        "position_quantity"
    )


def test_position_notional_passes_at_the_limit_and_denies_just_over() -> None:
    engine = risk(max_position_notional=150_000.0)
    held = view({(S1, BTC): 1.0})
    assert engine.check(order(2.0), held, "ACTIVE").allowed  # 3 x 50,000
    verdict = engine.check(order(2.001), held, "ACTIVE")
    assert verdict.reason == (
        f"position_notional: position in {BTC} after the order 150,050.00 is over the limit "
        "150,000.00"
    )


def test_strategy_notional_sums_only_that_strategys_absolute_positions() -> None:
    engine = risk(max_strategy_notional=100_000.0)
    # S1: long 1 BTC (50k) and short 10 ETH (20k) = 70k; S2's 0.5 BTC do not count.
    held = view({(S1, BTC): 1.0, (S1, ETH): -10.0, (S2, BTC): 0.5})
    assert engine.check(order(0.6), held, "ACTIVE").allowed  # 100k
    assert denied_by(engine.check(order(0.61), held, "ACTIVE")) == "strategy_notional"
    assert engine.check(order(0.61, strategy_id=S2), held, "ACTIVE").allowed


def test_global_notional_sums_every_strategy() -> None:
    engine = risk(max_global_notional=200_000.0)
    held = view({(S1, BTC): 1.0, (S2, BTC): 2.0})  # 150k
    assert engine.check(order(25.0, instrument_id=ETH, strategy_id=S2), held, "ACTIVE").allowed
    verdict = engine.check(order(25.5, instrument_id=ETH, strategy_id=S2), held, "ACTIVE")
    assert denied_by(verdict) == "global_notional"
    assert verdict.denial.limit == 200_000.0


# -- exposure ----------------------------------------------------------------------------------


def test_gross_exposure_passes_at_the_limit_and_denies_just_over() -> None:
    engine = risk(max_gross_exposure=1.5)
    held = view({(S1, BTC): 1.0, (S1, ETH): -25.0})  # 50k + 50k on 100k
    assert engine.check(order(1.0), held, "ACTIVE").allowed  # 150k: 1.5
    verdict = engine.check(order(1.01), held, "ACTIVE")
    assert verdict.reason == (
        "gross_exposure: gross exposure over equity after the order 150.50% is over the limit "
        "150.00%"
    )


def test_net_exposure_lets_a_short_offset_a_long() -> None:
    engine = risk(max_net_exposure=1.0)
    hedged = view({(S1, BTC): 2.0, (S1, ETH): -25.0})  # +100k -50k = 0.5 net
    assert engine.check(order(1.0), hedged, "ACTIVE").allowed  # 1.0 net
    assert denied_by(engine.check(order(1.1), hedged, "ACTIVE")) == "net_exposure"
    assert engine.check(order(50.0, side="SELL", instrument_id=ETH), hedged, "ACTIVE").allowed


def test_exposure_cannot_grow_while_equity_is_unknown() -> None:
    verdict = risk(max_gross_exposure=1.5).check(order(0.1), view(equity=0.0), "ACTIVE")
    assert verdict.reason == "gross_exposure: equity is 0.0: the exposure cannot be measured"


def test_a_position_without_a_price_blocks_growth_elsewhere_but_not_its_reduction() -> None:
    engine = risk(max_gross_exposure=1.5)
    unpriced_eth = view({(S1, ETH): 10.0, (S1, BTC): 1.0}, eth=InstrumentMarket())
    verdict = engine.check(order(0.1), unpriced_eth, "ACTIVE")
    assert verdict.reason == (
        f"gross_exposure: no price for {ETH}: the exposure cannot be measured"
    )
    assert engine.check(order(0.5, side="SELL"), unpriced_eth, "ACTIVE").allowed


# -- reducing orders and trading states -----------------------------------------------------------


def test_reducing_orders_pass_limits_the_position_already_breaks() -> None:
    engine = risk(
        max_position_quantity={BTC: 1.0},
        max_position_notional=50_000.0,
        max_strategy_notional=50_000.0,
        max_global_notional=50_000.0,
        max_gross_exposure=0.5,
        max_net_exposure=0.5,
        max_order_notional=10_000.0,
    )
    over = view({(S1, BTC): 4.0})  # 200k: every limit broken (the limits were just lowered)
    assert denied_by(engine.check(order(0.3), over, "ACTIVE")) == "order_max_notional"
    small = order(0.1, limit_price=50_000.0)  # under the order cap
    assert denied_by(engine.check(small, over, "ACTIVE")) == "position_quantity"
    # Selling the whole position at once is one order far over the order cap: it still passes.
    sell_all = engine.check(order(4.0, side="SELL"), over, "ACTIVE")
    assert sell_all == RiskVerdict(True)
    assert engine.check(order(0.1, side="SELL"), over, "ACTIVE").allowed


def test_an_order_that_flips_the_position_past_zero_is_not_reducing() -> None:
    engine = risk(max_position_quantity={BTC: 1.0})
    long = view({(S1, BTC): 3.0})
    assert engine.check(order(3.0, side="SELL"), long, "ACTIVE").allowed  # flat
    assert engine.check(order(4.0, side="SELL"), long, "ACTIVE").allowed  # short 1: the limit
    assert denied_by(engine.check(order(4.5, side="SELL"), long, "ACTIVE")) == ("position_quantity")


def test_reducing_is_judged_on_the_instruments_position_across_strategies() -> None:
    # S2 selling what S1 holds makes the account smaller: it is a reducing order.
    engine = risk(max_position_quantity={BTC: 1.0})
    held = view({(S1, BTC): 3.0})
    assert engine.check(order(2.0, side="SELL", strategy_id=S2), held, "REDUCING").allowed


def test_reducing_state_passes_only_orders_that_shrink_the_position() -> None:
    engine = risk()
    long = view({(S1, BTC): 1.0, (S1, ETH): -5.0})
    assert engine.check(order(0.4, side="SELL"), long, "REDUCING").allowed
    assert engine.check(order(1.0, side="SELL"), long, "REDUCING").allowed  # to flat
    assert engine.check(order(5.0, instrument_id=ETH), long, "REDUCING").allowed  # short to flat
    flip = engine.check(order(1.5, side="SELL"), long, "REDUCING")
    assert flip.reason == (
        f"trading_state: trading is REDUCING: SELL 1.5 would not reduce the position of 1 in {BTC}"
    )
    assert denied_by(engine.check(order(0.1), long, "REDUCING")) == "trading_state"
    assert denied_by(engine.check(order(0.1), view(), "REDUCING")) == "trading_state"  # flat


def test_a_sale_of_float_noise_more_than_the_position_still_reduces() -> None:
    held = view({(S1, BTC): 0.3})
    assert risk().check(order(0.1 + 0.2, side="SELL"), held, "REDUCING").allowed


def test_halted_denies_every_order_even_a_reducing_one() -> None:
    engine = risk()
    long = view({(S1, BTC): 1.0})
    for intent in (order(0.1), order(0.5, side="SELL")):
        verdict = engine.check(intent, long, "HALTED")
        assert verdict.reason == "trading_state: trading is HALTED: no order passes"


def test_an_unknown_trading_state_denies() -> None:
    verdict = risk().check(order(0.1), view(), "PAUSED")
    assert verdict.reason == "trading_state: unknown trading state 'PAUSED': no order passes"


# -- warnings ------------------------------------------------------------------------------------


def test_an_order_that_uses_warn_at_of_a_limit_passes_with_a_warning() -> None:
    engine = risk(max_position_notional=100_000.0, warn_at=0.8)
    at = engine.check(order(1.6), view(), "ACTIVE")  # 80k: 80%
    assert at.allowed
    assert at.warnings == (
        RiskBreach(
            Rule.POSITION_NOTIONAL,
            f"position in {BTC} after the order 80,000.00 is 80% of the limit 100,000.00",
            80_000.0,
            100_000.0,
        ),
    )
    assert engine.check(order(1.59), view(), "ACTIVE").warnings == ()


def test_every_limit_near_its_end_warns_at_once() -> None:
    engine = risk(
        max_order_notional=100_000.0,
        max_position_notional=100_000.0,
        max_strategy_notional=100_000.0,
        max_global_notional=100_000.0,
        max_gross_exposure=1.0,
        max_net_exposure=1.0,
        max_position_quantity={BTC: 2.0},
        max_order_quantity={BTC: 2.0},
        price_tolerance_bps=10.0,
    )
    verdict = engine.check(order(1.9, expected_price=50_045.0), view(), "ACTIVE")
    assert verdict.allowed
    assert warned_of(verdict) == [
        "order_max_quantity",
        "order_max_notional",
        "price_tolerance",
        "position_quantity",
        "position_notional",
        "strategy_notional",
        "global_notional",
        "gross_exposure",
        "net_exposure",
    ]


def test_a_denied_order_carries_no_warnings() -> None:
    engine = risk(max_order_notional=100_000.0, max_position_notional=10_000.0)
    verdict = engine.check(order(1.9), view(), "ACTIVE")
    assert (verdict.allowed, verdict.warnings) == (False, ())


def test_a_reducing_order_does_not_warn_of_the_limits_it_skips() -> None:
    engine = risk(max_position_notional=100_000.0)
    assert engine.check(order(0.1, side="SELL"), view({(S1, BTC): 1.99}), "ACTIVE").warnings == ()


# -- velocity ------------------------------------------------------------------------------------


def send(engine: PreTradeRisk, market: MarketView, *orders: OrderIntent) -> list[RiskVerdict]:
    return [engine.admit(intent, market, "ACTIVE") for intent in orders]


def test_the_per_second_window_slides_with_the_order_clock() -> None:
    engine = risk(max_orders_per_second=3)
    market = view()
    assert all(v.allowed for v in send(engine, market, *(order(0.01) for _ in range(3))))
    assert denied_by(engine.check(order(0.01, ts_ns=T0), market, "ACTIVE")) == (
        "velocity_strategy_second"
    )
    assert not engine.check(order(0.01, ts_ns=T0 + SECOND - 1), market, "ACTIVE").allowed
    assert engine.check(order(0.01, ts_ns=T0 + SECOND), market, "ACTIVE").allowed


def test_the_per_minute_window_counts_sixty_seconds_back() -> None:
    engine = risk(max_orders_per_second=2, max_orders_per_minute=4)
    market = view()
    for ts in (T0, T0 + 10 * SECOND, T0 + 20 * SECOND, T0 + 30 * SECOND):
        assert engine.admit(order(0.01, ts_ns=ts), market, "ACTIVE").allowed
    verdict = engine.check(order(0.01, ts_ns=T0 + 59 * SECOND), market, "ACTIVE")
    assert verdict.reason == (
        f"velocity_strategy_minute: 5 orders of strategy {S1} in one minute with this one, "
        "over the limit 4 per minute"
    )
    assert engine.check(order(0.01, ts_ns=T0 + 60 * SECOND), market, "ACTIVE").allowed


def test_per_strategy_limits_count_each_strategy_and_totals_count_all() -> None:
    engine = risk(max_orders_per_second=2, max_orders_per_second_total=3)
    market = view()
    send(engine, market, order(0.01), order(0.01))
    assert denied_by(engine.check(order(0.01), market, "ACTIVE")) == "velocity_strategy_second"
    assert engine.admit(order(0.01, strategy_id=S2), market, "ACTIVE").allowed
    verdict = engine.check(order(0.01, strategy_id=S2), market, "ACTIVE")
    assert denied_by(verdict) == "velocity_total_second"
    assert (verdict.denial.value, verdict.denial.limit) == (4.0, 3.0)


def test_only_orders_sent_count_toward_velocity() -> None:
    engine = risk(max_orders_per_second=1, max_order_notional=1_000.0)
    market = view()
    for _ in range(5):  # checked, never sent
        assert engine.check(order(0.01), market, "ACTIVE").allowed
    assert not engine.admit(order(1.0), market, "ACTIVE").allowed  # denied: not counted
    assert engine.admit(order(0.01), market, "ACTIVE").allowed
    assert not engine.check(order(0.01), market, "ACTIVE").allowed
    other = risk(max_orders_per_second=1)
    other.record_sent(order(0.01))
    assert denied_by(other.check(order(0.01), market, "ACTIVE")) == "velocity_strategy_second"


def test_velocity_warns_from_warn_at_of_the_window() -> None:
    engine = risk(max_orders_per_second=5, warn_at=0.8)
    verdicts = send(engine, view(), *(order(0.01) for _ in range(5)))
    second = ["velocity_strategy_second"]
    assert [warned_of(v) for v in verdicts] == [[], [], [], second, second]
    assert verdicts[3].warnings[0].message == (
        f"4 orders of strategy {S1} in one second with this one, 80% of the limit 5 per second"
    )


def test_the_next_send_time_keeps_every_velocity_window_under_its_warning() -> None:
    engine = risk(max_orders_per_second=10, max_orders_per_minute=20, warn_at=0.8)
    assert engine.next_send_ns(S1, T0) == T0  # nothing sent yet: now
    send(engine, view(), *(order(0.01, ts_ns=T0 + i) for i in range(7)))
    # The 8th in a second would be warned (80% of 10): it may go once the 1st has left.
    assert engine.next_send_ns(S1, T0 + 7) == T0 + SECOND + 1
    assert engine.next_send_ns(S2, T0 + 7) == T0 + 7  # another strategy's windows are its own
    # 15 in the minute (the 16th would be warned: 80% of 20): the minute binds, not the second.
    send(engine, view(), *(order(0.01, ts_ns=T0 + 2 * i * SECOND) for i in range(1, 9)))
    assert engine.next_send_ns(S1, T0 + 17 * SECOND) == T0 + 60 * SECOND + 1
    verdict = engine.check(order(0.01, ts_ns=T0 + 60 * SECOND + 1), view(), "ACTIVE")
    assert verdict.allowed and verdict.warnings == ()


def test_a_rate_excess_is_denied_even_for_a_reducing_order() -> None:
    engine = risk(max_orders_per_second=1)
    held = view({(S1, BTC): 1.0})
    engine.admit(order(0.1, side="SELL"), held, "ACTIVE")
    assert not engine.check(order(0.1, side="SELL"), held, "ACTIVE").allowed


# -- batches -------------------------------------------------------------------------------------


def test_a_batch_is_checked_as_if_each_allowed_order_had_filled() -> None:
    engine = risk(max_gross_exposure=1.0)
    all_btc = view({(S1, BTC): 2.0})  # 100k on 100k
    rotate = [order(2.0, side="SELL"), order(50.0, instrument_id=ETH)]
    assert not engine.check(rotate[1], all_btc, "ACTIVE").allowed  # alone: 2.0 gross
    assert [v.allowed for v in engine.check_batch(rotate, all_btc, "ACTIVE")] == [True, True]
    assert [v.allowed for v in engine.check_batch(rotate[::-1], all_btc, "ACTIVE")] == [
        False,
        True,
    ]


def test_a_batch_counts_its_own_velocity_but_records_none_of_it() -> None:
    engine = risk(max_orders_per_second=2)
    batch = [order(0.01), order(0.01, instrument_id=ETH), order(0.02)]
    verdicts = engine.check_batch(batch, view(), "ACTIVE")
    assert [denied_by(v) for v in verdicts] == [None, None, "velocity_strategy_second"]
    assert engine.check(order(0.01), view(), "ACTIVE").allowed  # the preview sent nothing


def test_market_view_after_moves_only_the_orders_position() -> None:
    held = view({(S1, BTC): 1.0, (S2, ETH): 5.0})
    after = held.after(order(0.5, side="SELL"))
    assert after.position(S1, BTC) == 0.5
    assert after.position(S2, ETH) == 5.0
    assert (held.global_notional, after.global_notional) == (60_000.0, 35_000.0)
    assert held.position(S1, BTC) == 1.0


# -- alerts --------------------------------------------------------------------------------------


def test_a_breach_alert_carries_the_rule_the_values_and_the_limit() -> None:
    breach = RiskBreach(Rule.ORDER_MAX_NOTIONAL, "order notional 1 is over the limit 0.5", 1, 0.5)
    first = breach_alert(breach, T0, "ERROR", instrument_id=BTC, strategy_id=S1)
    again = breach_alert(breach, T0, "ERROR", instrument_id=BTC, strategy_id=S1)
    assert (first.ts_event, first.severity, first.rule, first.instrument_id) == (
        T0,
        "ERROR",
        "order_max_notional",
        BTC,
    )
    assert first.message == breach.message
    assert first.details == {
        "rule": "order_max_notional",
        "value": 1,
        "limit": 0.5,
        "strategy_id": S1,
    }
    assert first.alert_id != again.alert_id  # two denials are two alerts
    assert first.alert_id.startswith(f"risk:{T0}:")


async def test_a_verdicts_alerts_reach_the_oms_with_the_order_in_their_details(
    tmp_path: Path,
) -> None:
    engine = risk(max_order_notional=60_000.0, max_position_notional=50_000.0)
    warned = order(0.96, ts_ns=T0)  # 48k: 80% and 96%
    denied = order(1.125, ts_ns=T0 + 1)  # 56,250: under the order cap, over the position's
    alerts = [
        *engine.alerts(warned, engine.check(warned, view(), "ACTIVE")),
        *engine.alerts(denied, engine.check(denied, view(), "ACTIVE")),
        *engine.alerts(warned, RiskVerdict(True)),
    ]
    assert [(a.severity, a.rule) for a in alerts] == [
        ("WARNING", "order_max_notional"),
        ("WARNING", "position_notional"),
        ("ERROR", "position_notional"),
    ]
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many(alerts)
        await store.flush()
        stored = {a.alert_id: a for a in await store.alerts()}
    assert set(stored) == {a.alert_id for a in alerts}
    denial = stored[alerts[2].alert_id]
    assert denial.details == {
        "rule": "position_notional",
        "value": 56_250.0,
        "limit": 50_000.0,
        "strategy_id": S1,
        "side": "BUY",
        "quantity": 1.125,
        "order_type": "MARKET",
        "limit_price": None,
        "expected_price": None,
        "allowed": False,
    }


def test_the_denial_reason_is_the_rule_and_the_message() -> None:
    breach = RiskBreach("no_price", f"no price for {BTC}: no last or mid")
    assert breach.reason == f"no_price: no price for {BTC}: no last or mid"
    assert RiskVerdict(False, breach).reason == breach.reason


def test_the_risk_engine_imports_neither_nautilus_nor_the_console() -> None:
    code = (
        "import sys, core.risk; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('nautilus_trader', 'textual', 'console', 'themes')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "[]"


def test_market_view_after_keeps_the_same_totals_as_a_view_built_afresh() -> None:
    held = view({(S1, BTC): 1.0, (S1, ETH): -10.0, (S2, BTC): -0.25})
    for intent in (
        order(0.5, side="SELL"),
        order(0.5, side="SELL"),  # S1 flat in BTC: its key goes
        order(30.0, instrument_id=ETH, strategy_id=S2),
    ):
        held = held.after(intent)
        fresh = MarketView(held.equity, held.positions, held.instruments)
        assert held.positions == fresh.positions
        assert held.net_quantity == pytest.approx(fresh.net_quantity)
        assert held.strategy_notional == pytest.approx(fresh.strategy_notional)
        assert (held.global_notional, held.account_gross, held.account_net) == pytest.approx(
            (fresh.global_notional, fresh.account_gross, fresh.account_net)
        )
    assert (S1, BTC) not in held.positions
