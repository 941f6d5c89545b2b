"""What the risk checks answer: a verdict, the breach that denied an order, near-limit warnings.

A breach carries its rule's name, one line of text with the value and the limit, and the two
numbers themselves, so that the OMS alert, Nautilus's ``OrderDenied`` reason and the preview all
say the same thing from one object.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.oms.events import RiskAlert


class Rule(StrEnum):
    """The name of each pre-trade check: the ``rule`` of its alerts and denial reasons."""

    TRADING_STATE = "trading_state"
    NO_PRICE = "no_price"
    ORDER_MIN_QUANTITY = "order_min_quantity"
    ORDER_LOT_SIZE = "order_lot_size"
    ORDER_MIN_NOTIONAL = "order_min_notional"
    ORDER_MAX_QUANTITY = "order_max_quantity"
    ORDER_MAX_NOTIONAL = "order_max_notional"
    PRICE_TOLERANCE = "price_tolerance"
    POSITION_QUANTITY = "position_quantity"
    POSITION_NOTIONAL = "position_notional"
    STRATEGY_NOTIONAL = "strategy_notional"
    GLOBAL_NOTIONAL = "global_notional"
    GROSS_EXPOSURE = "gross_exposure"
    NET_EXPOSURE = "net_exposure"
    VELOCITY_STRATEGY_SECOND = "velocity_strategy_second"
    VELOCITY_STRATEGY_MINUTE = "velocity_strategy_minute"
    VELOCITY_TOTAL_SECOND = "velocity_total_second"
    VELOCITY_TOTAL_MINUTE = "velocity_total_minute"


@dataclass(frozen=True, slots=True)
class RiskBreach:
    """A limit an order broke (a denial) or came near (a warning).

    ``value`` and ``limit`` are in the limit's own unit (quantity, notional, fraction of equity,
    bps, orders); None where the rule has no number (the trading state, a missing price).
    """

    rule: str
    message: str
    """One line naming what was measured, its value and the limit."""
    value: float | None = None
    limit: float | None = None

    @property
    def reason(self) -> str:
        """The text for Nautilus's ``OrderDenied`` and the order history: ``rule: message``."""
        return f"{self.rule}: {self.message}"


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """Whether an order may go, why not, and which limits it brought near."""

    allowed: bool
    denial: RiskBreach | None = None
    """The first rule that denied the order (rules run in a fixed order); None when allowed."""
    warnings: tuple[RiskBreach, ...] = ()
    """Limits an allowed order used to ``warn_at`` or more of; empty for a denied order."""

    @property
    def reason(self) -> str | None:
        """The denial's ``rule: message``, or None when the order is allowed."""
        return None if self.denial is None else self.denial.reason


ALLOWED = RiskVerdict(True)
"""The verdict of an order that passed every check and warned of nothing (shared: no
allocation on the common path)."""

_ALERT_SEQUENCE = itertools.count(1)


def breach_alert(
    breach: RiskBreach,
    ts_ns: int,
    severity: str,
    instrument_id: str | None = None,
    strategy_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> RiskAlert:
    """The OMS record of ``breach`` (a denial is usually ERROR, a warning WARNING).

    The alert id joins the time, a hash of what happened and a per-process sequence number:
    the OMS ingests by alert id, so two identical denials in the same nanosecond (two equal
    orders of one rebalance) must still be two alerts, while a backtest run in a fresh process
    gets the same ids each time.

    Parameters
    ----------
    breach : RiskBreach
        The denial or warning.
    ts_ns : int
        When the order was checked (the clock of the backtest or node), ns UTC.
    severity : str
        One of ``core.oms.SEVERITIES``.
    instrument_id, strategy_id : str | None
        The order's instrument and strategy (the strategy goes into ``details``).
    extra : Mapping[str, Any] | None
        More details (the order's side, quantity, price ...), JSON-serialisable.
    """
    details: dict[str, Any] = {
        "rule": str(breach.rule),
        "value": breach.value,
        "limit": breach.limit,
        "strategy_id": strategy_id,
    }
    if extra is not None:
        details.update(extra)
    digest = zlib.crc32(f"{breach.rule}|{strategy_id}|{instrument_id}|{breach.message}".encode())
    return RiskAlert(
        alert_id=f"risk:{ts_ns}:{digest:08x}:{next(_ALERT_SEQUENCE)}",
        ts_event=ts_ns,
        severity=severity,
        rule=str(breach.rule),
        message=breach.message,
        instrument_id=instrument_id,
        details=details,
    )
