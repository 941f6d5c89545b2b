"""``PnlTracker``: the node's session and UTC-day PnL, marked to market, as ``PnlSnapshot``s.

The node feeds it every fill it records (the same ``Fill`` records the OMS stores: price,
quantity and commission as Nautilus reported them) and asks it for a snapshot with each
heartbeat. A snapshot reads, in one synchronous step, the strategy's equity and each
instrument's mark from Nautilus's cache (``core.portfolio.marks.mark``: the price the equity is
valued at), so the figures it records add up exactly (see ``core.oms.pnl_record``):

    equity - session_start_equity = realized + unrealized - fees + funding + external

*Session* starts when the node starts trading (``start``): the equity then is the session's
start, and what the account holds then is carried in at its mark. A holding without a price yet
is carried in at its first mark, and its value then joins the start equity (before a price,
the equity left it out). *Day* starts at the first snapshot of each UTC day (00:00 UTC), or at
the session's start when the session began later that day.

Fees are the commissions paid in the valuation currency (the sandbox and the desk's venues
charge spot trades in the quote currency, USDT). Funding stays 0: the desk trades spot in the
sandbox, which pays none; the field is kept for perpetuals.
"""

from __future__ import annotations

from collections.abc import Callable

from nautilus_trader.model.identifiers import InstrumentId

from core.execution.strategy import NautilusRebalanceStrategy
from core.oms.events import Fill, Record
from core.oms.pnl_record import InstrumentPnl, PnlSnapshot
from core.portfolio.marks import Mark, mark
from core.portfolio.pnl import Ledger

_DAY_NS = 86_400 * 1_000_000_000


class PnlTracker:
    """Average-cost ledgers for the session and the UTC day, fed by fills, read at marks.

    Parameters
    ----------
    strategy : NautilusRebalanceStrategy
        The node's strategy: its equity, holdings and instruments, and Nautilus's cache.
    currency : str
        The valuation currency (``strategy.valuation_currency``).
    now_ns : callable
        The node's clock.
    """

    def __init__(
        self,
        strategy: NautilusRebalanceStrategy,
        currency: str,
        now_ns: Callable[[], int],
    ) -> None:
        self._strategy = strategy
        self._currency = currency
        self._now_ns = now_ns
        self._instrument_ids = [InstrumentId.from_str(i) for i in strategy.config.instrument_ids]
        self._session = Ledger()
        self._day = Ledger()
        self._started_ns: int | None = None
        self._start_equity = 0.0
        self._start_external = 0.0
        self._day_start_ns = 0
        self._day_start_equity = 0.0
        self._day_start_external = 0.0
        self._unmarked: dict[str, float] = {}
        """Held at the start, not yet priced: carried in at the first mark."""
        self.foreign_fees: dict[str, float] = {}
        """Commissions paid in another currency than the valuation one, by currency: not in
        ``fees`` (the equity counts only the valuation currency's cash)."""

    @property
    def started(self) -> bool:
        """Whether the session has started (``start`` was called)."""
        return self._started_ns is not None

    def start(self) -> None:
        """Start the session now: the equity now is its start, holdings carried in at marks."""
        now = self._now_ns()
        marks = self._marks()
        self._started_ns = now
        self._start_equity = self._strategy.equity()
        self._start_external = self._external()
        for key, instrument_id in self._instruments().items():
            held = self._strategy.holding(self._strategy.cache.instrument(instrument_id))
            if held == 0.0:
                continue
            found = marks.get(key)
            if found is None:
                self._unmarked[key] = held
            else:
                self._session.carry_in(key, held, found.price.as_double())
        self._start_day(now, marks, self._start_equity, self._start_external)

    def on_record(self, record: Record) -> None:
        """Take a fill the node records (other records pass by)."""
        if not isinstance(record, Fill) or record.run_id is not None:
            return
        if record.commission_currency == self._currency:
            fee = record.commission
        else:
            fee = 0.0
            currency = record.commission_currency
            self.foreign_fees[currency] = self.foreign_fees.get(currency, 0.0) + record.commission
        signed = record.quantity if record.side == "BUY" else -record.quantity
        for ledger in (self._session, self._day):
            ledger.fill(record.instrument_id, signed, record.price, fee)

    def snapshot(self) -> PnlSnapshot | None:
        """The PnL now, at the marks now; None before ``start``."""
        if self._started_ns is None:
            return None
        now = self._now_ns()
        marks = self._marks()
        equity = self._strategy.equity()
        external = self._external()
        for key in [k for k in self._unmarked if k in marks]:
            held = self._unmarked.pop(key)
            price = marks[key].price.as_double()
            for ledger in (self._session, self._day):
                ledger.carry_in(key, held, price)
            # Worth this at its first price: the start equity (which left it out) counts it.
            self._start_equity += held * price
            self._day_start_equity += held * price
        if now // _DAY_NS != self._day_start_ns // _DAY_NS:
            self._start_day(now, marks, equity, external)
        lines = tuple(self._line(key, marks.get(key)) for key in self._instruments())
        return PnlSnapshot(
            ts_event=now,
            currency=self._currency,
            equity=equity,
            session_start_ns=self._started_ns,
            session_start_equity=self._start_equity,
            day_start_ns=self._day_start_ns,
            day_start_equity=self._day_start_equity,
            realized=sum(line.realized for line in lines),
            unrealized=sum(line.unrealized for line in lines),
            fees=sum(line.fees for line in lines),
            funding=sum(line.funding for line in lines),
            external=external - self._start_external,
            day_realized=sum(line.day_realized for line in lines),
            day_unrealized=sum(line.day_unrealized for line in lines),
            day_fees=sum(line.day_fees for line in lines),
            day_funding=sum(line.day_funding for line in lines),
            day_external=external - self._day_start_external,
            instruments=lines,
        )

    def _start_day(self, now: int, marks: dict[str, Mark], equity: float, external: float) -> None:
        # A new UTC day (or the session's first): what is held now is carried in at its mark.
        self._day = Ledger()
        for key, holding in self._session.holdings.items():
            found = marks.get(key)
            if holding.quantity != 0.0 and found is not None:
                self._day.carry_in(key, holding.quantity, found.price.as_double())
        self._day_start_ns = now
        self._day_start_equity = equity
        self._day_start_external = external

    def _line(self, key: str, found: Mark | None) -> InstrumentPnl:
        session = self._session.holding(key)
        day = self._day.holding(key)
        price = None if found is None else found.price.as_double()
        return InstrumentPnl(
            instrument_id=key,
            quantity=session.quantity,
            average_cost=session.average_cost,
            mark=price,
            mark_source=None if found is None else found.source,
            mark_ns=None if found is None else found.ts_ns,
            realized=session.realized,
            unrealized=session.unrealized(price),
            fees=session.fees,
            funding=session.funding,
            day_realized=day.realized,
            day_unrealized=day.unrealized(price),
            day_fees=day.fees,
            day_funding=day.funding,
        )

    def _instruments(self) -> dict[str, InstrumentId]:
        # The instruments traded, in the cache (one missing from it cannot be held).
        cache = self._strategy.cache
        return {str(i): i for i in self._instrument_ids if cache.instrument(i) is not None}

    def _marks(self) -> dict[str, Mark]:
        cache = self._strategy.cache
        return {
            key: found
            for key, instrument_id in self._instruments().items()
            if (found := mark(cache, instrument_id)) is not None
        }

    def _external(self) -> float:
        return self._strategy.orchestrator.external_value()[0]
