"""The Positions pane's rows: one per instrument, from what the OMS holds, nothing recomputed.

An instrument the node trades takes its figures from the node's ``PnlSnapshot``: quantity,
average cost, mark (last trade or mid), unrealized at that mark, the session's realized PnL
(gross of fees), fees, funding, session and day PnL (``core.oms.pnl_record``). An instrument
only the ``positions`` table knows (an external venue's) takes the position's own figures,
its mark being the venue's at the last poll. Targets are those in force (the latest
``TargetsRecord``); weights are ``quantity x mark / equity`` of the same snapshot, so a row's
weight, drift and PnL are of one moment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.oms import PnlSnapshot, PositionSnapshot, TargetsRecord

TOTAL_KEY = "total"
"""The key of the row that sums every instrument."""


@dataclass(frozen=True)
class PositionsView:
    """What the Positions pane reads from the OMS in one go."""

    positions: tuple[PositionSnapshot, ...]
    pnl: PnlSnapshot | None
    """The node's latest marks and PnL (None before a node's first mark)."""
    targets: TargetsRecord | None
    """The targets in force (None: the node never recorded any)."""


@dataclass(frozen=True)
class PositionRow:
    """One line of the pane: an instrument, or the total (``instrument`` None)."""

    key: str
    instrument: str | None
    quantity: float | None
    target: float | None
    """Target weight (fraction of equity); None without targets in force."""
    weight: float | None
    """Current weight: quantity x mark / equity; None without a mark or equity."""
    mark: float | None
    mark_source: str | None
    unrealized: float | None
    realized: float | None
    fees: float | None
    session: float | None
    day: float | None
    average_cost: float | None

    @property
    def drift_bps(self) -> float | None:
        """``weight - target`` in basis points of equity (positive: more held than targeted)."""
        if self.weight is None or self.target is None:
            return None
        return (self.weight - self.target) * 10_000


def position_rows(view: PositionsView, equity: float | None) -> list[PositionRow]:
    """The total (when the node has marked), then one row per instrument: held ones first.

    ``equity`` weighs the instruments the snapshot lacks (the header's, None without a node);
    the snapshot's instruments are weighed by its own equity.
    """
    pnl = view.pnl
    targets: Mapping[str, float] = {} if view.targets is None else view.targets.weights
    by_instrument: dict[str, list[PositionSnapshot]] = {}
    for position in view.positions:
        by_instrument.setdefault(position.instrument_id, []).append(position)
    marked = {line.instrument_id for line in pnl.instruments} if pnl is not None else set()
    names = sorted({*by_instrument, *marked, *targets})
    rows = [
        _marked_row(name, pnl, targets.get(name))
        if pnl is not None and name in marked
        else _position_row(name, by_instrument.get(name, []), targets.get(name), equity)
        for name in names
    ]
    rows.sort(key=lambda row: (not row.quantity, row.key))
    if pnl is None:
        return rows
    return [_total_row(pnl, rows, targets), *rows]


def _marked_row(name: str, pnl: PnlSnapshot, target: float | None) -> PositionRow:
    line = pnl.instrument(name)
    assert line is not None
    weight = None
    if line.mark is not None and pnl.equity > 0:
        weight = line.quantity * line.mark / pnl.equity
    return PositionRow(
        key=name,
        instrument=name,
        quantity=line.quantity,
        target=target,
        weight=weight,
        mark=line.mark,
        mark_source=line.mark_source,
        unrealized=line.unrealized,
        realized=line.realized,
        fees=line.fees,
        session=line.session,
        day=line.day,
        average_cost=line.average_cost if line.quantity else None,
    )


def _position_row(
    name: str, positions: Sequence[PositionSnapshot], target: float | None, equity: float | None
) -> PositionRow:
    # Not marked by the node (an external venue's, or no node): the positions' own figures.
    quantity = sum(p.signed_qty for p in positions)
    last = max(positions, key=lambda p: p.ts_event, default=None)
    mark = None if last is None else last.last_px
    weight = None
    if mark is not None and equity is not None and equity > 0:
        weight = quantity * mark / equity
    return PositionRow(
        key=name,
        instrument=name,
        quantity=quantity if positions else 0.0,
        target=target,
        weight=weight if positions else (0.0 if equity else None),
        mark=mark,
        mark_source=None,
        unrealized=sum(p.unrealized_pnl for p in positions) if positions else None,
        realized=sum(p.realized_pnl for p in positions) if positions else None,
        fees=None,
        session=None,
        day=None,
        average_cost=None if last is None or not quantity else last.avg_px_open,
    )


def _total_row(
    pnl: PnlSnapshot, rows: Sequence[PositionRow], targets: Mapping[str, float]
) -> PositionRow:
    weights = [row.weight for row in rows if row.weight is not None]
    return PositionRow(
        key=TOTAL_KEY,
        instrument=None,
        quantity=None,
        target=sum(targets.values()) if targets else None,
        weight=sum(weights) if weights else None,
        mark=None,
        mark_source=None,
        unrealized=pnl.unrealized,
        realized=pnl.realized,
        fees=pnl.fees,
        session=pnl.session_pnl,
        day=pnl.day_pnl,
        average_cost=None,
    )
