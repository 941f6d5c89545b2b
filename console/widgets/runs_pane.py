"""The backtest runs the OMS knows: id, state, progress, result folder."""

from __future__ import annotations

from collections.abc import Sequence

from console.widgets.cells import DASH, percent, themed
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.oms import OmsStore, RunState

STATE_VARIABLES = {
    "QUEUED": "status-open",
    "RUNNING": "status-open",
    "COMPLETED": "status-done",
    "FAILED": "status-bad",
}


class RunsPane(OmsPane):
    """The latest runs in the OMS's ``runs`` table, most recently updated first."""

    TITLE = "Backtest runs"
    COLUMNS = (
        ("run", 28),
        ("state", 9),
        ("progress", 8),
        ("phase", 8),
        ("folder", 48),
        ("error", 40),
    )
    TABLES = frozenset({"runs"})

    async def fetch(self, store: OmsStore) -> list[RunState]:
        return await store.runs(limit=self.limit)

    def key(self, record: RunState) -> str:
        return record.run_id

    def cells(self, record: RunState) -> Cells:
        return (
            record.run_id,
            themed(record.state, STATE_VARIABLES.get(record.state), self.variables),
            percent(record.progress),
            record.phase or DASH,
            record.result_folder or DASH,
            record.error or DASH,
        )

    def summary(self, data: Sequence[RunState]) -> str:
        if not data:
            return "no runs in the OMS yet"
        running = sum(1 for run in data if run.state in ("QUEUED", "RUNNING"))
        return f"{running} running · {len(data)} shown"
