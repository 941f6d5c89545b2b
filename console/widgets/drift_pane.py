"""The Drift pane: how far recent fills landed from their reference price, in bps."""

from __future__ import annotations

import math
from collections.abc import Sequence

from console.widgets.cells import price, themed, utc_time
from console.widgets.column_layout import Column
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.oms import DriftObservation, OmsStore


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` by linear interpolation (as NumPy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class DriftPane(OmsPane):
    """The latest drift observations, newest first; the subtitle has the rolling statistics.

    Drift is signed as a cost (positive: the fill was worse than the reference), so the p95 is
    the bad tail. The statistics roll over the rows shown (the latest ``row_limit``).
    """

    TITLE = "Drift"
    # At 80 columns (and in the 160-column grid) the reference's name goes first, then the time.
    COLUMNS = (
        Column("time", 8, priority=2),
        Column("instrument", 15),
        Column("side", 4),
        Column("bps", 5, numeric=True),
        Column("over", 4),
        Column("fill px", 7, numeric=True),
        Column("ref px", 7, numeric=True),
        Column("ref", 8, priority=3),
    )
    TABLES = frozenset({"drift_observations"})

    async def fetch(self, store: OmsStore) -> list[DriftObservation]:
        return await store.drift(limit=self.limit)

    def key(self, record: DriftObservation) -> str:
        return f"{record.client_order_id}/{record.trade_id}/{record.reference}"

    def cells(self, record: DriftObservation) -> Cells:
        variables = self.variables
        mark = "drift-over" if record.over_threshold else None
        return (
            utc_time(record.ts_event),
            record.instrument_id,
            record.side,
            themed(f"{record.drift_bps:+.1f}", mark, variables, bold=mark is not None),
            themed("OVER" if record.over_threshold else "", mark, variables, bold=True),
            price(record.fill_price),
            price(record.reference_price),
            record.reference,
        )

    def summary(self, data: Sequence[DriftObservation]) -> str:
        if not data:
            return "no fills yet"
        values = [drift.drift_bps for drift in data]
        mean = sum(values) / len(values)
        over = sum(1 for drift in data if drift.over_threshold)
        return (
            f"mean {mean:+.1f} · p95 {percentile(values, 0.95):+.1f} bps · "
            f"{over} over of {len(data)}"
        )
