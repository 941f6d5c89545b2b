"""``LiveRebalanceStrategy``: the backtest's rebalancer, fed by the target-weight watcher.

All of the rebalancing is inherited from :class:`core.execution.strategy.NautilusRebalanceStrategy`,
so the backtest and the node decide the same orders from the same targets and prices. What the
node adds is the plumbing around it: targets arrive from the watcher (``apply_file``), a
warning ("no price for X, skipping") becomes a risk alert in the OMS instead of a log line
only, and each rebalance is timed (the watcher saw the file -> the orders were submitted) so
``bench/bench_node.py`` can report it.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nautilus_trader.model.identifiers import InstrumentId

from core.execution.strategy import NautilusRebalanceStrategy, NautilusRebalanceStrategyConfig
from core.oms.events import RiskAlert
from core.portfolio.marks import last_price
from core.portfolio.rebalance import RebalanceLine, Skip
from core.risk import RiskVerdict


class LiveRebalanceStrategyConfig(NautilusRebalanceStrategyConfig, frozen=True):
    """The rebalancer's parameters; the live node adds none of its own yet."""


@dataclass(frozen=True)
class PreviewLine:
    """One instrument of a rebalance preview: the order it implies, its cost, the verdict.

    ``line`` is exactly what ``send_preview`` sends: the preview's numbers are the orders.
    """

    line: RebalanceLine
    fee: float
    """Taker fee of the order, in the valuation currency."""
    slippage: float
    """Expected slippage under the desk's fill model: the part beyond the last trade's size
    fills one tick worse."""
    verdict: str
    """PASS, WARN (rule: why), DENY (rule: why), or why no order (e.g. within tolerance)."""
    allowed: bool

    @property
    def cost(self) -> float:
        """Fee plus expected slippage."""
        return self.fee + self.slippage


@dataclass(frozen=True)
class AppliedTargets:
    """One rebalance the node ran: why, when, and the orders it sent."""

    operation_id: str
    detected_ns: int
    """When the watcher saw the file change (wall clock, ns)."""
    submitted_ns: int
    """When the last of its orders was handed to Nautilus (wall clock, ns)."""
    orders: int
    lines: tuple[RebalanceLine, ...]


class LiveRebalanceStrategy(NautilusRebalanceStrategy):
    """Rebalances to the targets the watcher accepts; warnings become OMS alerts."""

    def __init__(self, config: LiveRebalanceStrategyConfig) -> None:
        super().__init__(config)
        self.applied: list[AppliedTargets] = []
        """The rebalances run since start, oldest first (bounded: the last 1,000)."""
        self.on_warning = self._alert_warning
        self.price_wait_secs = 1.0
        """How often targets held back for want of a price are tried again."""
        self._awaiting_price: tuple[str, int] | None = None
        """(operation id, detected_ns) of targets not fully traded for want of a price."""
        self._price_retry: asyncio.TimerHandle | None = None

    def apply_file(
        self, weights: Mapping[str, float], operation_id: str, detected_ns: int
    ) -> AppliedTargets:
        """Apply a target file's weights (already validated by the watcher) and rebalance.

        ``detected_ns`` is when the watcher saw the change: kept with the submit time so the
        write -> submit latency can be measured.
        """
        lines = self.apply_targets(weights, operation_id)
        self._await_prices(lines, operation_id, detected_ns)
        applied = AppliedTargets(
            operation_id=operation_id,
            detected_ns=detected_ns,
            submitted_ns=time.time_ns(),
            orders=sum(1 for line in lines if line.side is not None),
            lines=tuple(lines),
        )
        self.applied.append(applied)
        del self.applied[:-1000]
        return applied

    def on_stop(self) -> None:
        super().on_stop()
        self._awaiting_price = None
        if self._price_retry is not None:
            self._price_retry.cancel()
            self._price_retry = None

    def _await_prices(
        self, lines: list[RebalanceLine], operation_id: str, detected_ns: int
    ) -> None:
        # Targets that arrive before the first trade of an instrument (a node just started, a
        # quiet market) stay in force: they are traded as soon as every instrument has a price.
        # The retry runs on the event loop, not on a Nautilus timer: a live clock's timer calls
        # back on a Rust runtime thread, where orders and OMS records would race the loop.
        missing = any(line.skip is Skip.NO_PRICE for line in lines)
        self._awaiting_price = (operation_id, detected_ns) if missing else None
        if missing and self._price_retry is None:
            self._schedule_price_retry()

    def _schedule_price_retry(self) -> None:
        loop = asyncio.get_running_loop()
        self._price_retry = loop.call_later(self.price_wait_secs, self._retry_priced)

    def _retry_priced(self) -> None:
        self._price_retry = None
        if self._awaiting_price is None or not self.is_running:
            return
        targeted = [i for i in self._instrument_ids if str(i) in self.targets]
        if any(last_price(self.cache, i) is None for i in targeted):
            self._schedule_price_retry()  # still waiting
            return
        operation_id, detected_ns = self._awaiting_price
        applied = self.apply_file({}, f"{operation_id}-priced", detected_ns)
        self._notify(
            f"targets traded now that every instrument has a price: {applied.orders} orders"
        )

    def _alert_warning(self, message: str) -> None:
        instrument_id = message.split()[3].rstrip(",") if message.startswith("no price") else None
        rule = "no_price" if instrument_id is not None else "strategy"
        self._notify(message, "WARNING", rule, instrument_id)

    def _notify(
        self,
        message: str,
        severity: str = "INFO",
        rule: str = "targets_applied",
        instrument_id: str | None = None,
    ) -> None:
        if self.alert is None:
            return
        now = self.clock.timestamp_ns()
        self.alert(
            RiskAlert(
                alert_id=f"strategy:{self.id}:{now}:{zlib.crc32(message.encode()):08x}",
                ts_event=now,
                severity=severity,
                rule=rule,
                message=message,
                instrument_id=instrument_id,
            )
        )

    def preview_targets(self, weights: Mapping[str, float] | None = None) -> dict[str, float]:
        """The target of every traded instrument in a preview: ``weights``, else the target in
        force, else (no target: the rebalance keeps the position) the current weight."""
        instruments, prices, holdings = self._market()
        equity, _ = self._equity_and_free_cash(instruments, prices, holdings)
        # Every traded instrument gets a row: one without a target keeps its position (as the
        # rebalance does), shown at its current weight so the operator can edit it.
        held = {
            key: holdings[key] * price / equity if price and equity > 0 else 0.0
            for key, price in prices.items()
        }
        return {**held, **self.targets, **(weights or {})}

    def preview(self, weights: Mapping[str, float] | None = None) -> list[PreviewLine]:
        """What rebalancing to the targets in force (changed by ``weights``) would send now."""
        lines = self.plan(self.preview_targets(weights))
        # Judged as a batch in the order they would be sent (sells free room for buys).
        verdicts = self.check_lines(lines)
        previews = [self._preview_line(ln, v) for ln, v in zip(lines, verdicts, strict=True)]
        return sorted(previews, key=lambda preview: preview.line.instrument_id)

    def send_preview(self, lines: Sequence[PreviewLine], operation_id: str) -> int:
        """Send the previewed orders of ``lines`` exactly (the operator's selection); their
        targets become the targets in force. Returns how many orders went out."""
        self.targets.update({p.line.instrument_id: p.line.target_weight for p in lines})
        return self.send_lines([p.line for p in lines], operation_id)

    def _preview_line(self, line: RebalanceLine, verdict: RiskVerdict | None) -> PreviewLine:
        if line.side is None or line.price is None or verdict is None:
            why = "no order" if line.skip is None else line.skip.value
            return PreviewLine(line, 0.0, 0.0, why, False)
        instrument = self.cache.instrument(InstrumentId.from_str(line.instrument_id))
        fee = line.notional * float(instrument.taker_fee)
        last = self.cache.trade_tick(instrument.id)
        beyond = line.quantity - (0.0 if last is None else last.size.as_double())
        slippage = max(0.0, beyond) * instrument.price_increment.as_double()
        return PreviewLine(line, fee, slippage, verdict_text(verdict), verdict.allowed)

    def base_currency(self, instrument_id: str) -> str:
        """What one unit of the instrument is (``BTC`` for ``BTCUSDT.BINANCE``): the word the
        fat-finger guard asks for; the symbol for an instrument without a base currency."""
        instrument = self.cache.instrument(InstrumentId.from_str(instrument_id))
        base = None if instrument is None else instrument.get_base_currency()
        return InstrumentId.from_str(instrument_id).symbol.value if base is None else base.code

    def flatten(self, operation_id: str) -> list[RebalanceLine]:
        """Close every position: targets of zero for every instrument, through the usual
        rebalance (lot flooring, the risk checks); what cannot be sold (dust) stays."""
        self._awaiting_price = None
        return self.apply_targets({str(i): 0.0 for i in self._instrument_ids}, operation_id)

    def cancel_all_orders_everywhere(self) -> None:
        """Cancel every open order of this strategy (the kill switch: nothing stays working)."""
        for instrument_id in self._instrument_ids:
            self.cancel_all_orders(instrument_id)


def verdict_text(verdict: RiskVerdict) -> str:
    """PASS, ``WARN rule: why`` (the nearest limit) or ``DENY rule: why``: the preview's cell."""
    if verdict.denial is not None:
        return f"DENY {verdict.denial.reason}"
    if verdict.warnings:
        return f"WARN {verdict.warnings[0].reason}"
    return "PASS"


def denied_text(lines: Sequence[PreviewLine]) -> str:
    """The denied lines in words: ``BTCUSDT.BINANCE (position_notional: position in ...)``,
    joined by ``; ``."""
    return "; ".join(f"{p.line.instrument_id} ({p.verdict.removeprefix('DENY ')})" for p in lines)
