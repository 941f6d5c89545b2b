"""The Risk alerts pane: what the risk rules raised, newest first."""

from __future__ import annotations

from collections.abc import Sequence

from console.widgets.cells import themed, utc_time
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.oms import OmsStore, RiskAlert

SEVERITY_VARIABLES = {
    "INFO": "severity-info",
    "WARNING": "severity-warning",
    "ERROR": "severity-critical",
    "CRITICAL": "severity-critical",
}


class AlertsPane(OmsPane):
    """The latest risk alerts: time, severity, rule, message."""

    TITLE = "Risk alerts"
    COLUMNS = (("time", 8), ("severity", 8), ("rule", 18), ("message", 60))
    TABLES = frozenset({"risk_alerts"})

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
            record.message,
        )

    def summary(self, data: Sequence[RiskAlert]) -> str:
        critical = sum(1 for alert in data if alert.severity == "CRITICAL")
        errors = sum(1 for alert in data if alert.severity == "ERROR")
        counts = [f"{critical} critical"] if critical else []
        counts += [f"{errors} error{'s' if errors > 1 else ''}"] if errors else []
        return " · ".join([*counts, f"{len(data)} shown"])
