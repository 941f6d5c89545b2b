"""The desk's pre-trade risk engine: pure Python, the same in backtests and on the node.

``PreTradeRisk`` (``core.risk.engine``) checks an ``OrderIntent`` against a ``MarketView``
(``core.risk.market``) and a trading state, and answers a ``RiskVerdict``
(``core.risk.verdict``); the rules themselves are in ``core.risk.rules`` and
``core.risk.velocity``.

Also owns the trading state and the kill switch's operator side (``trading_state``), the
automatic kill triggers (``equity_limits``), the fat-finger guard of a manual rebalance
(``fat_finger``), fill-price drift (``drift``) and the Nautilus side of the pre-trade gate
(``pre_trade``).

May import: ``core.oms``, ``core.portfolio``, ``core.storage``.
"""

from core.risk.engine import DENIAL_SEVERITY, WARNING_SEVERITY, PreTradeRisk
from core.risk.market import InstrumentMarket, MarketView, OrderIntent
from core.risk.verdict import ALLOWED, RiskBreach, RiskVerdict, Rule, breach_alert

__all__ = [
    "ALLOWED",
    "DENIAL_SEVERITY",
    "WARNING_SEVERITY",
    "InstrumentMarket",
    "MarketView",
    "OrderIntent",
    "PreTradeRisk",
    "RiskBreach",
    "RiskVerdict",
    "Rule",
    "breach_alert",
]
