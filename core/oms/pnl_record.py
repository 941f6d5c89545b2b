"""``PnlSnapshot``: the node's marks and PnL, as it computed them, for every screen to read.

The node writes one with each heartbeat (``core.live.pnl_tracker``); the OMS keeps the latest
(table ``pnl``, one row). The Positions pane, the header and ``trade-console status`` read it,
so they show the figures the node saw, never their own sums, and a console or ``status``
started after the node reads the session's start from here.

Periods
-------
*session*: from the node's start (``session_start_ns``). ``session_start_equity`` is the equity
at that moment, holdings valued at their first mark (an instrument held but not yet priced
joins it at its first mark: it was worth that, not 0, when the session began).

*day*: since 00:00 UTC of the day of ``ts_event``: from the first mark of that day
(``day_start_ns``), or from the session's start when the session began later that day.

The identity, for each period, exact in the figures recorded (round only to show them)::

    equity - session_start_equity = realized + unrealized - fees + funding + external
    equity - day_start_equity     = day_realized + day_unrealized - day_fees + day_funding
                                    + day_external

``realized`` is gross of fees (average cost, see ``core.portfolio.pnl``); ``fees`` are the
fills' commissions; ``funding`` is 0 on spot and in the sandbox (kept for perpetuals);
``external`` is the change in value of the ``[[external_venues]]`` (their own accounting, 0
without any).
"""

from __future__ import annotations

import msgspec

_RECORD = {"frozen": True, "kw_only": True}

MARK_SOURCES = ("last", "mid")
"""What a mark is: the last trade's price, or the mid of the best bid and ask (no trade yet)."""


class InstrumentPnl(msgspec.Struct, **_RECORD):
    """One instrument's mark and PnL within a ``PnlSnapshot``."""

    instrument_id: str
    quantity: float
    """Held now (signed)."""
    average_cost: float
    """The session's average cost of what is held (a holding carried in costs its mark at
    the session's start); 0 when flat."""
    mark: float | None
    """The latest market price; None before the instrument's first price."""
    mark_source: str | None
    """``last`` or ``mid`` (``MARK_SOURCES``); None without a mark."""
    mark_ns: int | None
    """When the market printed that price (ns); None without a mark."""
    realized: float
    unrealized: float
    fees: float
    funding: float
    day_realized: float
    day_unrealized: float
    day_fees: float
    day_funding: float

    @property
    def session(self) -> float:
        """The session's PnL on this instrument: realized + unrealized - fees + funding."""
        return self.realized + self.unrealized - self.fees + self.funding

    @property
    def day(self) -> float:
        """The UTC day's PnL on this instrument."""
        return self.day_realized + self.day_unrealized - self.day_fees + self.day_funding


class PnlSnapshot(msgspec.Struct, **_RECORD):
    """The node's equity, marks and PnL at ``ts_event`` (see the module docstring)."""

    ts_event: int
    """When the node computed it (ns, its clock)."""
    currency: str
    """The valuation currency every figure is in."""
    equity: float
    session_start_ns: int
    session_start_equity: float
    day_start_ns: int
    day_start_equity: float
    realized: float
    unrealized: float
    fees: float
    funding: float
    external: float = 0.0
    day_realized: float
    day_unrealized: float
    day_fees: float
    day_funding: float
    day_external: float = 0.0
    instruments: tuple[InstrumentPnl, ...] = ()

    @property
    def session_pnl(self) -> float:
        """``equity - session_start_equity``: what the session made."""
        return self.equity - self.session_start_equity

    @property
    def day_pnl(self) -> float:
        """``equity - day_start_equity``: what the UTC day made."""
        return self.equity - self.day_start_equity

    @property
    def session_explained(self) -> float:
        """The session's PnL from its parts: realized + unrealized - fees + funding + external
        (equal to ``session_pnl`` up to float rounding)."""
        return self.realized + self.unrealized - self.fees + self.funding + self.external

    @property
    def day_explained(self) -> float:
        """The day's PnL from its parts (equal to ``day_pnl`` up to float rounding)."""
        return (
            self.day_realized
            + self.day_unrealized
            - self.day_fees
            + self.day_funding
            + self.day_external
        )

    def instrument(self, instrument_id: str) -> InstrumentPnl | None:
        """The instrument's line; None when the node does not trade it."""
        return next((i for i in self.instruments if i.instrument_id == instrument_id), None)
