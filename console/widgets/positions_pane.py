"""The Positions pane: what the desk holds, its PnL, and its weight of equity."""

from __future__ import annotations

from collections.abc import Sequence

from console.widgets.cells import DASH, percent, pnl, price, quantity, themed
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.health import Health
from core.oms import OmsStore, PositionSnapshot


class PositionsPane(OmsPane):
    """Positions as they stand now, open ones first.

    ``last`` is the price of the position's last fill (the OMS records no market prices), and
    its unrealized PnL is the one the node computed at that event. The weight needs the
    node's equity, so it shows ``-`` when no node runs; the target is ``-`` until the node
    records the targets it trades to (issue 4).
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

    async def fetch(self, store: OmsStore) -> list[PositionSnapshot]:
        return (await store.positions())[: self.limit]

    def key(self, record: PositionSnapshot) -> str:
        return record.position_id

    def cells(self, record: PositionSnapshot) -> Cells:
        variables = self.variables
        equity = self._shown_equity
        weight = None
        if equity is not None and equity > 0:
            weight = record.signed_qty * record.last_px / equity
        side = {"LONG": "pnl-up", "SHORT": "pnl-down"}.get(record.side, "muted")
        return (
            record.instrument_id,
            themed(quantity(record.signed_qty), side, variables),
            percent(weight),
            DASH,
            pnl(record.unrealized_pnl, variables),
            pnl(record.realized_pnl, variables),
            price(record.avg_px_open),
            price(record.last_px),
        )

    def summary(self, data: Sequence[PositionSnapshot]) -> str:
        open_positions = sum(1 for position in data if position.side != "FLAT")
        total = sum(position.unrealized_pnl + position.realized_pnl for position in data)
        return f"{open_positions} open · PnL {total:+,.2f}"
