"""The Health pane: node, data feed, venue connection, GCS and OMS, from ``core.oms.health``."""

from __future__ import annotations

import os
from collections.abc import Sequence

from console.widgets.cells import themed, utc_time
from console.widgets.column_layout import Column
from console.widgets.table_pane import Cells, Row, TablePane
from core.oms.health import ComponentHealth, Health

STATE_VARIABLES = {
    "OK": "health-ok",
    "WARN": "health-warn",
    "DOWN": "health-down",
    "NONE": "health-none",
}


def short_paths(text: str) -> str:
    """``text`` with the working folder's prefix dropped from paths: the OMS lives under
    ``artifacts/`` of the folder the console runs in, and the full path wastes a narrow pane."""
    prefix = os.getcwd().rstrip(os.sep) + os.sep
    return text.replace(prefix, "")


class HealthPane(TablePane):
    """One row per component, as the app's latest ``Health`` says (refreshed every second)."""

    TITLE = "Health"
    COLUMNS = (
        Column("component", 24),
        Column("state", 5),
        Column("detail", 20, grow=True),
    )

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "health", self._on_health)

    def _on_health(self, health: Health | None) -> None:
        if health is not None:
            self.show(health)

    def rows(self, data: Health) -> Sequence[Row]:
        return super().rows(data.components)

    def key(self, record: ComponentHealth) -> str:
        return record.name

    def cells(self, record: ComponentHealth) -> Cells:
        return (
            record.name,
            themed(record.state, STATE_VARIABLES.get(record.state), self.variables),
            short_paths(record.detail),
        )

    def summary(self, data: Health) -> str:
        return f"as of {utc_time(data.as_of_ns)} UTC"
