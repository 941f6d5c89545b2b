"""The Positions pane: what the desk holds, at the market, against its targets, and its PnL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text

from console.widgets.cells import DASH, number, percent, pnl, price, quantity, themed, utc_time
from console.widgets.column_layout import Column
from console.widgets.oms_pane import OmsPane
from console.widgets.position_rows import PositionRow, PositionsView, position_rows
from console.widgets.table_pane import Cells, Row
from core.execution.external.asset_totals import AssetTotal, asset_totals
from core.oms import OmsStore
from core.oms.health import Health


class PositionsPane(OmsPane):
    """One row per instrument (``console.widgets.position_rows``), under a total row; an asset
    held on two venues or more also gets a total across venues (``Σ BTC 2 venues``).

    ``mark`` is the latest market price the node recorded (the last trade, else the quotes'
    mid: ``src``), ``unrealized`` is marked to it, ``realized`` (gross of fees), ``fees``,
    ``session`` and ``day`` are the node's session and UTC-day PnL (``core.oms.pnl_record``;
    they add up: session = realized + unrealized - fees + funding). ``target`` is the weight in
    force, ``weight`` the current one (quantity x mark / equity) and ``bps`` the drift from
    target: their difference in basis points of equity. The subtitle says when the marks were
    taken. Without a node (or before its first mark) rows show the positions' own figures and
    ``-`` for the rest.
    """

    TITLE = "Positions"
    # What an operator needs first is kept longest: at 80 columns (and in the 160-column grid)
    # the position, its target and drift, the mark, and the PnL; weight, realized, fees, the
    # average cost and the mark's source show when maximised.
    COLUMNS = (
        Column("instrument", 15),
        Column("qty", 3, numeric=True),
        Column("target", 6, numeric=True, priority=2),
        Column("weight", 6, numeric=True, priority=3),
        Column("bps", 3, numeric=True, priority=2),
        Column("mark", 4, numeric=True),
        Column("unrealized", 6, numeric=True),
        Column("session", 6, numeric=True),
        Column("day", 3, numeric=True, priority=2),
        Column("realized", 6, numeric=True, priority=4),
        Column("fees", 4, numeric=True, priority=4),
        Column("avg px", 6, numeric=True, priority=5),
        Column("src", 4, priority=6),
    )
    TABLES = frozenset({"positions", "pnl", "targets"})

    _shown_equity: float | None = None
    """The node's equity the unmarked rows' weights were computed with."""

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "health", self._on_health)

    def _on_health(self, health: Health | None) -> None:
        # Health comes every second; the weights change only when the equity does.
        equity = None if health is None else health.equity
        if equity != self._shown_equity:
            self._shown_equity = equity
            self.remake()

    async def fetch(self, store: OmsStore) -> PositionsView:
        targets = await store.targets_history(limit=1)
        return PositionsView(
            positions=tuple(await store.positions()),
            pnl=await store.pnl(),
            targets=targets[0] if targets else None,
        )

    def rows(self, data: Any) -> Sequence[Row]:
        view: PositionsView = data
        totals: list[AssetTotal | PositionRow] = list(asset_totals(view.positions))
        records = totals + position_rows(view, self._shown_equity)
        return super().rows(records[: self.limit])

    def key(self, record: AssetTotal | PositionRow) -> str:
        if isinstance(record, AssetTotal):
            return f"asset:{record.asset}"
        return record.key

    def cells(self, record: AssetTotal | PositionRow) -> Cells:
        if isinstance(record, AssetTotal):
            return self._asset_cells(record)
        money = self.variables
        name = (
            themed("Σ total", None, money, bold=True)
            if record.instrument is None
            else record.instrument
        )
        return (
            name,
            DASH if record.quantity is None else self._signed(record.quantity),
            percent(record.target),
            percent(record.weight),
            _bps(record.drift_bps),
            price(record.mark),
            pnl(record.unrealized, money),
            pnl(record.session, money),
            pnl(record.day, money),
            pnl(record.realized, money),
            number(record.fees),
            price(record.average_cost),
            record.mark_source or DASH,
        )

    def _asset_cells(self, total: AssetTotal) -> Cells:
        equity = self._shown_equity
        weight = total.notional / equity if equity is not None and equity > 0 else None
        label = themed(f"Σ {total.asset} {len(total.venues)} venues", None, self.variables)
        return (
            label,
            self._signed(total.signed_qty),
            DASH,
            percent(weight),
            DASH,
            DASH,
            pnl(total.unrealized_pnl, self.variables),
            DASH,
            DASH,
            pnl(total.realized_pnl, self.variables),
            DASH,
            DASH,
            DASH,
        )

    def _signed(self, signed_qty: float) -> Text:
        side = "pnl-up" if signed_qty > 0 else "pnl-down" if signed_qty < 0 else "muted"
        return themed(quantity(signed_qty), side, self.variables)

    def summary(self, data: PositionsView) -> str:
        held = sum(1 for position in data.positions if position.side != "FLAT")
        snapshot = data.pnl
        if snapshot is None:
            return f"{held} open · no marks yet"
        sources = {line.mark_source for line in snapshot.instruments if line.mark_source}
        source = "/".join(sorted(sources)) or "no"
        return (
            f"{held} open · session {snapshot.session_pnl:+,.2f} · day "
            f"{snapshot.day_pnl:+,.2f} · {source} marks {utc_time(snapshot.ts_event)}"
        )


def _bps(value: float | None) -> str:
    """Basis points, signed, whole: ``+120``, ``-4,000``."""
    return DASH if value is None else f"{value:+,.0f}"
