"""The automatic kill triggers: drawdown from the peak, loss since the day's first valuation."""

from __future__ import annotations

from core.config import RiskConfig
from core.risk.equity_limits import EquityLimits

DAY = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC
HOUR = 3_600_000_000_000


def test_drawdown_beyond_the_limit_from_the_peak_trips_and_within_does_not() -> None:
    limits = EquityLimits(RiskConfig(drawdown_limit=0.10))
    assert limits.observe(100_000, DAY) is None
    assert limits.observe(120_000, DAY + HOUR) is None  # new peak
    assert limits.observe(108_000, DAY + 2 * HOUR) is None  # exactly 10%: not over
    tripped = limits.observe(107_000, DAY + 3 * HOUR)
    assert tripped is not None and tripped[0] == "drawdown_limit"
    assert "10.83%" in tripped[1] and "120,000.00" in tripped[1]


def test_daily_loss_counts_from_the_first_valuation_of_each_utc_day() -> None:
    limits = EquityLimits(RiskConfig(daily_loss_limit=0.05, auto_action="reducing"))
    assert limits.action == "REDUCING"
    assert limits.observe(100_000, DAY + HOUR) is None
    assert limits.observe(96_000, DAY + 20 * HOUR) is None
    # A new day starts from its own first valuation: 96,000, so 94,000 is a 2% loss.
    assert limits.observe(96_000, DAY + 25 * HOUR) is None
    assert limits.observe(94_000, DAY + 26 * HOUR) is None
    tripped = limits.observe(91_000, DAY + 27 * HOUR)
    assert tripped is not None and tripped[0] == "daily_loss_limit"


def test_limits_of_zero_are_off_and_no_valuation_is_ignored() -> None:
    limits = EquityLimits(RiskConfig())
    assert limits.observe(100_000, DAY) is None
    assert limits.observe(1, DAY + HOUR) is None
    assert limits.observe(0.0, DAY + HOUR) is None
