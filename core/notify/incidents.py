"""Incidents: what turns a stream of alerts into a few messages a person can act on.

An incident is one thing going wrong, known by a key: an alert's rule (and instrument), or a
part of the node seen DOWN in its heartbeat. Its first alert at ``[notify] min_severity`` or
above opens it and makes one message; alerts of the same key while it is open only count. A
message goes out again as a reminder when the incident is still open ``remind_after_secs``
after the last one, and once more when it is resolved:

- a halt (``trading_state``, ``drawdown_limit``, ``daily_loss_limit``): when the node trades
  ACTIVE again (the re-arm);
- ``node_down``: when a node runs again;
- a part of the node, the data feed, the venue: when it reports OK again;
- anything else (a refused target file, a denied order, a venue reject): after
  ``resolve_after_secs`` without another alert of its kind.

Pure bookkeeping on the times it is given, no I/O: ``core.notify.notifier`` feeds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import NotifyConfig
from core.oms import NodeStatus, RiskAlert

SEVERITY_RANK = {"INFO": 0, "WARNING": 1, "ERROR": 2, "CRITICAL": 3}
HALT_RULES = frozenset({"trading_state", "drawdown_limit", "daily_loss_limit"})
"""Alerts whose incident lasts while the node is not trading ACTIVE."""
NODE_DOWN_RULE = "node_down"
JUDGED_STATES = frozenset({"RUNNING", "DEGRADED"})
"""The node states whose heartbeat opens or resolves incidents."""
_SECOND = 1_000_000_000


@dataclass(frozen=True)
class Message:
    """One message to send to every channel."""

    kind: str
    """incident, reminder or resolved."""
    incident: str
    severity: str
    reason: str
    """One line: the alert's message, or what resolved it."""
    opened_ns: int
    alert_id: str | None = None
    repeats: int = 0
    """Alerts of this incident since its previous message (a reminder's count)."""


@dataclass
class _Incident:
    key: str
    severity: str
    reason: str
    resolver: str
    """trading, node, state (a part of the heartbeat) or quiet."""
    opened_ns: int
    last_alert_ns: int
    last_message_ns: int
    alert_id: str | None = None
    repeats: int = 0
    since_ns: int = 0
    """When what opened it happened (the alert's own time): only a heartbeat written after
    this can say it is over (an older one may predate the halt it would resolve)."""


def alert_key(alert: RiskAlert) -> str:
    """The incident an alert belongs to: its rule, and its instrument when it names one."""
    key = f"alert:{alert.rule}"
    return key if alert.instrument_id is None else f"{key}:{alert.instrument_id}"


def _resolver(key: str) -> str:
    if not key.startswith("alert:"):
        return "state"
    rule = key.removeprefix("alert:").partition(":")[0]
    if rule in HALT_RULES:
        return "trading"
    return "node" if rule == NODE_DOWN_RULE else "quiet"


def status_problems(status: NodeStatus) -> dict[str, str]:
    """What the heartbeat ``status`` says is broken, as {incident key: one line}: each part
    DOWN (and the OMS writer failing, which is how a lost OMS shows), the data feed and the
    venue connection DOWN."""
    problems = {
        f"part:{name}": f"{name} {state}: {detail}"
        for name, state, detail in status.parts
        if state == "DOWN" or (name == "OMS writer" and state != "OK")
    }
    if status.data_feed == "DOWN":
        problems["part:data feed"] = f"data feed DOWN: {status.detail or 'no detail'}"
    if status.venue_connection == "DOWN":
        venues = ", ".join(status.venues) or "the venue"
        problems["part:venue"] = f"{venues} DOWN: {status.detail or 'no detail'}"
    return problems


class IncidentBook:
    """The open incidents, and the messages each change calls for."""

    def __init__(self, config: NotifyConfig) -> None:
        self._min_rank = SEVERITY_RANK[config.min_severity]
        self._remind_ns = int(config.remind_after_secs * _SECOND)
        self._quiet_ns = int(config.resolve_after_secs * _SECOND)
        self._open: dict[str, _Incident] = {}

    @property
    def open_keys(self) -> tuple[str, ...]:
        """The incidents open now."""
        return tuple(self._open)

    def restore(self, key: str, severity: str, reason: str, opened_ns: int, sent_ns: int) -> None:
        """Take back an incident an earlier node told the channels about and did not resolve,
        so a restart does not announce it twice."""
        self._open[key] = _Incident(
            key, severity, reason, _resolver(key), opened_ns, sent_ns, sent_ns, since_ns=sent_ns
        )

    def on_alert(self, alert: RiskAlert, now_ns: int) -> list[Message]:
        """An alert was recorded: a message if it opens an incident."""
        if SEVERITY_RANK.get(alert.severity, 0) < self._min_rank:
            return []
        key = alert_key(alert)
        incident = self._open.get(key)
        if incident is not None:
            incident.repeats += 1
            incident.last_alert_ns = now_ns
            incident.reason = alert.message
            if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[incident.severity]:
                incident.severity = alert.severity
            return []
        message = self._open_incident(key, alert.severity, alert.message, now_ns, alert.alert_id)
        self._open[key].since_ns = alert.ts_event
        return [message]

    def on_status(self, status: NodeStatus, now_ns: int) -> list[Message]:
        """The node's heartbeat: incidents its parts open, and those its state resolves.

        Only a node that runs is judged: while it starts (its clients still connecting) or
        stops, its feed and parts are down by design, and say nothing of an incident.
        """
        if status.node_state not in JUDGED_STATES:
            return []
        messages = []
        problems = status_problems(status)
        for key, reason in problems.items():
            incident = self._open.get(key)
            if incident is None:
                messages.append(self._open_incident(key, "ERROR", reason, now_ns))
            else:
                incident.last_alert_ns = now_ns
                incident.reason = reason
        for incident in list(self._open.values()):
            why = self._resolution(incident, status, problems)
            if why is not None:
                messages.append(self._close(incident, why, now_ns))
        return messages

    def tick(self, now_ns: int) -> list[Message]:
        """Time passed: reminders due, and quiet incidents resolved."""
        messages = []
        for incident in list(self._open.values()):
            if incident.resolver == "quiet" and now_ns - incident.last_alert_ns >= self._quiet_ns:
                quiet_s = self._quiet_ns / _SECOND
                why = f"no further alert of this kind for {quiet_s:.0f} s"
                messages.append(self._close(incident, why, now_ns))
            elif now_ns - incident.last_message_ns >= self._remind_ns:
                messages.append(
                    Message(
                        "reminder",
                        incident.key,
                        incident.severity,
                        incident.reason,
                        incident.opened_ns,
                        incident.alert_id,
                        incident.repeats,
                    )
                )
                incident.last_message_ns = now_ns
                incident.repeats = 0
        return messages

    def _open_incident(
        self, key: str, severity: str, reason: str, now_ns: int, alert_id: str | None = None
    ) -> Message:
        self._open[key] = _Incident(
            key, severity, reason, _resolver(key), now_ns, now_ns, now_ns, alert_id, 0, now_ns
        )
        return Message("incident", key, severity, reason, now_ns, alert_id)

    def _resolution(
        self, incident: _Incident, status: NodeStatus, problems: dict[str, str]
    ) -> str | None:
        if incident.resolver in ("trading", "node") and status.ts_event <= incident.since_ns:
            return None
        if incident.resolver == "trading" and status.trading_state == "ACTIVE":
            return "trading is ACTIVE again"
        if incident.resolver == "node" and status.node_state == "RUNNING":
            return "a node runs again"
        if incident.resolver == "state" and incident.key not in problems:
            return f"{incident.key.removeprefix('part:')} is working again"
        return None

    def _close(self, incident: _Incident, why: str, now_ns: int) -> Message:
        del self._open[incident.key]
        return Message(
            "resolved",
            incident.key,
            incident.severity,
            why,
            incident.opened_ns,
            incident.alert_id,
            incident.repeats,
        )
