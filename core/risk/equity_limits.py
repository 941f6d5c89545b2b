"""``EquityLimits``: the automatic kill triggers, a drawdown limit and a daily loss limit.

The node feeds it its equity with each heartbeat. The drawdown is measured from the highest
equity seen since the node started; the daily loss from the first valuation of the UTC day.
When either goes beyond its limit (``[risk] drawdown_limit``, ``daily_loss_limit``, fractions
of equity; 0 = off), the node moves the trading state to ``[risk] auto_action`` with an alert.
Pure arithmetic, no Nautilus: testable on its own.
"""

from __future__ import annotations

import datetime as dt

from core.config import RiskConfig


class EquityLimits:
    """Tracks peak and start-of-day equity; says when a limit is breached."""

    def __init__(self, config: RiskConfig) -> None:
        self.drawdown_limit = config.drawdown_limit
        self.daily_loss_limit = config.daily_loss_limit
        self.action = config.auto_action.upper()
        """The trading state a breach asks for: REDUCING or HALTED."""
        self.peak: float | None = None
        self.day: dt.date | None = None
        self.day_start: float | None = None

    def observe(self, equity: float, now_ns: int) -> tuple[str, str] | None:
        """Record ``equity`` at ``now_ns``; the (rule, one-line message) of a breach, or None."""
        if not equity > 0:
            return None  # no valuation yet (no price): nothing to measure against
        day = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC).date()
        if day != self.day:
            self.day, self.day_start = day, equity
        self.peak = equity if self.peak is None else max(self.peak, equity)
        if self.drawdown_limit > 0:
            drawdown = 1 - equity / self.peak
            if drawdown > self.drawdown_limit:
                return (
                    "drawdown_limit",
                    f"drawdown {drawdown:.2%} from peak {self.peak:,.2f} is over the "
                    f"{self.drawdown_limit:.2%} limit",
                )
        if self.daily_loss_limit > 0 and self.day_start is not None:
            loss = 1 - equity / self.day_start
            if loss > self.daily_loss_limit:
                return (
                    "daily_loss_limit",
                    f"daily loss {loss:.2%} from {self.day_start:,.2f} is over the "
                    f"{self.daily_loss_limit:.2%} limit",
                )
        return None
