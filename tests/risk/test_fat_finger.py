"""The fat-finger guard: which sends need a typed confirmation, for which order, in what words."""

from __future__ import annotations

from core.config import RiskConfig
from core.risk.fat_finger import SizedOrder, confirmation_needed

EQUITY = 100_000.0


def order(notional: float, instrument: str = "BTCUSDT.BINANCE", base: str = "BTC") -> SizedOrder:
    return SizedOrder(instrument, "BUY", notional / 100_000.0, notional, base)


def test_an_order_above_the_share_of_equity_asks_for_its_base_currency() -> None:
    btc = order(39_800.0)
    eth = order(25_000.0, "ETHUSDT.BINANCE", "ETH")
    asked = confirmation_needed([eth, btc], EQUITY, RiskConfig(), "USDT")
    assert asked is not None
    assert asked.order == btc and asked.word == "BTC"  # the largest of those above 20%
    assert asked.text == (
        "BUY 0.398 BTCUSDT.BINANCE, notional 39,800.00 USDT = 39.8% of equity; type BTC to send"
    )
    assert asked.rule == "risk.confirm_above_pct_equity"
    assert asked.confirmed_by("BTC") and asked.confirmed_by(" btc ")
    assert (
        not asked.confirmed_by("ETH")
        and not asked.confirmed_by("")
        and not asked.confirmed_by(None)
    )


def test_orders_at_or_below_both_limits_go_on_y_alone() -> None:
    assert (
        confirmation_needed([order(20_000.0), order(20_000.0)], EQUITY, RiskConfig(), "USDT")
        is None
    )
    assert confirmation_needed([], EQUITY, RiskConfig(), "USDT") is None


def test_a_turnover_above_its_limit_asks_for_the_largest_order() -> None:
    small = [order(15_000.0), order(19_000.0, "ETHUSDT.BINANCE", "ETH"), order(18_000.0)]
    asked = confirmation_needed(small, EQUITY, RiskConfig(), "USDT")
    assert asked is not None and asked.word == "ETH"
    assert asked.rule == "risk.confirm_turnover_pct_equity"
    assert "3 orders turn over 52,000.00 USDT = 52.0% of equity, above 50%" in asked.why


def test_zero_switches_each_limit_off() -> None:
    off = RiskConfig(confirm_above_pct_equity=0.0, confirm_turnover_pct_equity=0.0)
    assert confirmation_needed([order(99_000.0)], EQUITY, off, "USDT") is None
    only_turnover = RiskConfig(confirm_above_pct_equity=0.0)
    asked = confirmation_needed([order(60_000.0)], EQUITY, only_turnover, "USDT")
    assert asked is not None and asked.rule == "risk.confirm_turnover_pct_equity"


def test_without_a_positive_equity_a_guard_that_is_on_always_asks() -> None:
    asked = confirmation_needed([order(100.0)], 0.0, RiskConfig(), "USDT")
    assert asked is not None and "an equity of 0.00" in asked.text
