"""The fat-finger guard: a rebalance that is large against equity needs a typed confirmation.

A keystroke too many (``25`` meant as 25% read as 25.0, a ``y`` pressed twice) must not send a
large part of the book. So an order sent from the rebalance preview whose notional is above
``[risk] confirm_above_pct_equity`` of equity, or a send whose orders add up to more than
``confirm_turnover_pct_equity``, goes only once the operator has typed the base currency of its
largest such order (``BTC``), in a dialog that states the order, its notional and its share of
equity. The node's session enforces it (``NodeSession.send_preview`` refuses without the word);
the console asks for it. Pure arithmetic: no Nautilus, no screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.config import RiskConfig


@dataclass(frozen=True)
class SizedOrder:
    """An order as the guard weighs it."""

    instrument_id: str
    side: str
    quantity: float
    notional: float
    """In the valuation currency."""
    base_currency: str
    """What the operator types to confirm it (``BTC`` for ``BTCUSDT.BINANCE``)."""


@dataclass(frozen=True)
class Confirmation:
    """What a guarded send asks the operator to confirm, and the word that confirms it."""

    order: SizedOrder
    """The largest order above ``confirm_above_pct_equity``; when only the turnover is above
    its limit, the largest order of the send."""
    orders: int
    """How many orders the send holds."""
    turnover: float
    """Their notionals summed, in the valuation currency."""
    equity: float
    valuation_currency: str
    rule: str
    """The limit that asks: ``risk.confirm_above_pct_equity`` or
    ``risk.confirm_turnover_pct_equity``."""
    limit_pct: float

    @property
    def word(self) -> str:
        """What the operator types: the base currency of ``order``."""
        return self.order.base_currency

    @property
    def order_text(self) -> str:
        """``BUY 0.42 BTCUSDT.BINANCE, notional 39,800.00 USDT = 39.8% of equity``."""
        order = self.order
        return (
            f"{order.side} {_quantity(order.quantity)} {order.instrument_id}, notional "
            f"{order.notional:,.2f} {self.valuation_currency} = {self._share(order.notional)}"
        )

    @property
    def why(self) -> str:
        """Which limit asks, in one line."""
        if self.rule == "risk.confirm_above_pct_equity":
            return f"an order above {self.limit_pct:g}% of equity ({self.rule})"
        return (
            f"{self.orders} orders turn over {self.turnover:,.2f} {self.valuation_currency} = "
            f"{self._share(self.turnover)}, above {self.limit_pct:g}% ({self.rule})"
        )

    @property
    def text(self) -> str:
        """The whole question in one line, ending with the word to type."""
        return f"{self.order_text}; type {self.word} to send"

    def confirmed_by(self, typed: str | None) -> bool:
        """Whether ``typed`` is the word (surrounding spaces and letter case aside)."""
        return typed is not None and typed.strip().upper() == self.word.upper()

    def _share(self, notional: float) -> str:
        if not self.equity > 0:
            return f"an equity of {self.equity:,.2f}"  # no share to give: asked all the same
        return f"{notional / self.equity:.1%} of equity"


def confirmation_needed(
    orders: Sequence[SizedOrder], equity: float, risk: RiskConfig, valuation_currency: str
) -> Confirmation | None:
    """The confirmation a send of ``orders`` needs, or None when it may go on ``y`` alone.

    With equity not positive (nothing priced yet, an empty account) no share can be measured:
    every order is then taken as above the limit, so a guard that is on always asks.
    """
    above_pct = risk.confirm_above_pct_equity
    turnover_pct = risk.confirm_turnover_pct_equity
    if not orders:
        return None

    def pct(notional: float) -> float:
        return notional / equity * 100 if equity > 0 else math.inf

    large = [order for order in orders if above_pct > 0 and pct(order.notional) > above_pct]
    turnover = sum(order.notional for order in orders)
    if large:
        rule, limit, chosen = "risk.confirm_above_pct_equity", above_pct, large
    elif turnover_pct > 0 and pct(turnover) > turnover_pct:
        rule, limit, chosen = "risk.confirm_turnover_pct_equity", turnover_pct, list(orders)
    else:
        return None
    return Confirmation(
        order=max(chosen, key=lambda order: order.notional),
        orders=len(orders),
        turnover=turnover,
        equity=equity,
        valuation_currency=valuation_currency,
        rule=rule,
        limit_pct=limit,
    )


def _quantity(value: float) -> str:
    text = f"{value:,.8f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
