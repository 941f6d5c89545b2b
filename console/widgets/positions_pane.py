"""The Positions pane: what the desk holds, its PnL, and its weight of equity."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from console.widgets.cells import DASH, percent, pnl, price, quantity, themed
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.execution.external.asset_totals import AssetTotal, asset_totals
from core.oms import OmsStore, PositionSnapshot
from core.oms.health import Health

PositionRow = PositionSnapshot | AssetTotal


class PositionsPane(OmsPane):
    """Positions as they stand now: per-asset totals across venues, then open positions first.

    Nautilus venues' positions and external venues' (``core.execution.external``) are rows alike,
    each named by its instrument (``BTCUSDT.BINANCE``, ``BTCGUSDPERP.GEMINI``). An asset held on two
    venues or more also gets a total row on top (``Σ BTC 2 venues``): the desk's exposure, summed
    across venues. An asset on one venue gets none, as it would only repeat its one row and
    take a line of an 80x24 screen.

    ``last`` is the price of the position's last fill (the OMS records no market prices), and
    its unrealized PnL is the one the node computed at that event (for an external venue, the
    venue's mark at the last poll). The weight needs the node's equity, so it shows ``-`` when
    no node runs; the target is ``-`` until the node records the targets it trades to.
    """

    TITLE = "Positions"
    # The sign of the quantity is the side (coloured too); prices come last, as at 80
    # columns they scroll.
    COLUMNS = (
        ("instrument", 15),
        ("qty", 10),
        ("weight", 7),
        ("target", 7),
        ("unrealized", 12),
        ("realized", 12),
        ("avg px", 11),
        ("last", 11),
    )
    TABLES = frozenset({"positions"})

    _shown_equity: float | None = None
    """The equity the weights shown were computed with."""

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "health", self._on_health)

    def _on_health(self, health: Health | None) -> None:
        # Health comes every second; the weights change only when the equity does.
        if self._equity != self._shown_equity:
            self._shown_equity = self._equity
            self.remake()

    @property
    def _equity(self) -> float | None:
        health: Health | None = getattr(self.app, "health", None)
        return None if health is None else health.equity

    async def fetch(self, store: OmsStore) -> list[PositionRow]:
        positions = await store.positions()
        totals: list[PositionRow] = list(asset_totals(positions))
        return (totals + list(positions))[: self.limit]

    def key(self, record: PositionRow) -> str:
        if isinstance(record, AssetTotal):
            return f"total:{record.asset}"
        return record.position_id

    def cells(self, record: PositionRow) -> Cells:
        if isinstance(record, AssetTotal):
            return self._total_cells(record)
        weight = self._weight(record.signed_qty * record.last_px)
        return (
            record.instrument_id,
            self._signed(record.signed_qty),
            percent(weight),
            DASH,
            pnl(record.unrealized_pnl, self.variables),
            pnl(record.realized_pnl, self.variables),
            price(record.avg_px_open),
            price(record.last_px),
        )

    def _total_cells(self, total: AssetTotal) -> Cells:
        return (
            themed(f"Σ {total.asset} {len(total.venues)} venues", None, self.variables, bold=True),
            self._signed(total.signed_qty),
            percent(self._weight(total.notional)),
            DASH,
            pnl(total.unrealized_pnl, self.variables),
            pnl(total.realized_pnl, self.variables),
            DASH,
            DASH,
        )

    def _signed(self, signed_qty: float) -> Text:
        side = "pnl-up" if signed_qty > 0 else "pnl-down" if signed_qty < 0 else "muted"
        return themed(quantity(signed_qty), side, self.variables)

    def _weight(self, notional: float) -> float | None:
        equity = self._shown_equity
        return notional / equity if equity is not None and equity > 0 else None

    def summary(self, data: Sequence[PositionRow]) -> str:
        positions = [row for row in data if isinstance(row, PositionSnapshot)]
        open_positions = sum(1 for position in positions if position.side != "FLAT")
        total = sum(position.unrealized_pnl + position.realized_pnl for position in positions)
        return f"{open_positions} open · PnL {total:+,.2f}"
