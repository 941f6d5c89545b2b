"""The Risk alerts pane: what the risk rules raised, newest first."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message

from console.widgets.cells import themed, utc_time
from console.widgets.column_layout import Column
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.oms import OmsStore, RiskAlert

SEVERITY_VARIABLES = {
    "INFO": "severity-info",
    "WARNING": "severity-warning",
    "ERROR": "severity-critical",
    "CRITICAL": "severity-critical",
}


_LEADING_FOLDER = re.compile(r"^(?:[A-Za-z]+://)?/?(?:[^/\s:]+/)+(?=[^/\s:]+: )")
"""``/work/desk/artifacts/orders/`` of ``/work/desk/artifacts/orders/target_weights.json: ...``."""


class AlertsPane(OmsPane):
    """The latest risk alerts: time, severity, rule, message.

    The message takes the row's room left (40 characters at 80 columns); a longer one ends in
    ``…``, and Enter opens the alert in full (``AlertDetailScreen``).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Full alert", id="alerts.open", tooltip="The whole alert"),
    ]

    TITLE = "Risk alerts"
    COLUMNS = (
        Column("time", 8),
        Column("severity", 8),
        Column("rule", 18, priority=2),
        Column("message", 20, grow=True),
    )
    TABLES = frozenset({"risk_alerts"})

    @dataclass
    class Open(Message):
        """The operator asked to read an alert in full."""

        pane: AlertsPane
        alert: RiskAlert

        @property
        def control(self) -> AlertsPane:
            return self.pane

    async def fetch(self, store: OmsStore) -> list[RiskAlert]:
        return await store.alerts(limit=self.limit)

    def key(self, record: RiskAlert) -> str:
        return record.alert_id

    def cells(self, record: RiskAlert) -> Cells:
        severity = SEVERITY_VARIABLES.get(record.severity)
        critical = record.severity == "CRITICAL"
        return (
            utc_time(record.ts_event),
            themed(record.severity, severity, self.variables, bold=critical),
            record.rule,
            # One line, its reason first: a leading folder (the same for every target-file
            # alert) would fill an 80-column row; the full text opens with Enter.
            _LEADING_FOLDER.sub("", " ".join(record.message.split()), count=1),
        )

    def summary(self, data: Sequence[RiskAlert]) -> str:
        critical = sum(1 for alert in data if alert.severity == "CRITICAL")
        errors = sum(1 for alert in data if alert.severity == "ERROR")
        counts = [f"{critical} critical"] if critical else []
        counts += [f"{errors} error{'s' if errors > 1 else ''}"] if errors else []
        return " · ".join([*counts, f"{len(data)} shown"])

    @property
    def current(self) -> RiskAlert | None:
        """The alert under the cursor (None when there is none)."""
        table = self.table
        if not table.row_count or not self.data:
            return None
        key = table.keys[table.cursor_row]
        return next((alert for alert in self.data if alert.alert_id == key), None)

    def action_open(self) -> None:
        alert = self.current
        if alert is not None:
            self.post_message(self.Open(self, alert))
