"""The incident book: one message per incident, a reminder while it stays open, one when it is
resolved, by the state that resolves it or by quiet."""

from __future__ import annotations

import msgspec

from core.config import NotifyConfig
from core.notify.incidents import IncidentBook, status_problems
from core.oms import NodeStatus, RiskAlert

S = 1_000_000_000
T0 = 1_767_000_000 * S
CONFIG = NotifyConfig(urls=("json://127.0.0.1:1/x",), remind_after_secs=600, resolve_after_secs=300)


def alert(
    n: int, rule: str = "target_file", severity: str = "ERROR", at: int = T0, **kw
) -> RiskAlert:
    return RiskAlert(
        alert_id=f"a{n}", ts_event=at, severity=severity, rule=rule, message=f"m{n}", **kw
    )


def heartbeat(
    at: int, trading: str = "ACTIVE", parts=(), node_state: str = "RUNNING"
) -> NodeStatus:
    return NodeStatus(
        ts_event=at,
        mode="SHADOW",
        venues=("BINANCE",),
        node_state=node_state,
        trading_state=trading,
        data_feed="OK",
        venue_connection="OK",
        equity=1.0,
        parts=parts,
    )


def test_a_burst_of_one_kind_of_alert_is_one_message() -> None:
    book = IncidentBook(CONFIG)
    messages = [m for n in range(20) for m in book.on_alert(alert(n), T0 + n * S)]
    assert [(m.kind, m.incident, m.reason) for m in messages] == [
        ("incident", "alert:target_file", "m0")
    ]


def test_alerts_below_the_minimum_severity_open_nothing() -> None:
    book = IncidentBook(NotifyConfig(min_severity="CRITICAL"))
    assert book.on_alert(alert(1, severity="ERROR"), T0) == []
    assert book.on_alert(alert(2, severity="WARNING"), T0) == []
    assert [m.kind for m in book.on_alert(alert(3, severity="CRITICAL"), T0)] == ["incident"]


def test_each_instrument_is_an_incident_of_its_own() -> None:
    book = IncidentBook(CONFIG)
    a = book.on_alert(alert(1, rule="max_order_notional", instrument_id="BTCUSDT.BINANCE"), T0)
    b = book.on_alert(alert(2, rule="max_order_notional", instrument_id="ETHUSDT.BINANCE"), T0)
    assert [m.incident for m in a + b] == [
        "alert:max_order_notional:BTCUSDT.BINANCE",
        "alert:max_order_notional:ETHUSDT.BINANCE",
    ]


def test_an_open_incident_is_reminded_with_the_alerts_since_then_resolved_by_quiet() -> None:
    book = IncidentBook(NotifyConfig(remind_after_secs=60, resolve_after_secs=300))
    book.on_alert(alert(1), T0)
    for n in range(2, 5):
        book.on_alert(alert(n), T0 + n * 10 * S)  # still raising, up to T0 + 40 s
    assert book.tick(T0 + 59 * S) == []
    (reminder,) = book.tick(T0 + 60 * S)
    assert (reminder.kind, reminder.repeats, reminder.reason) == ("reminder", 3, "m4")
    assert book.tick(T0 + 61 * S) == []  # once per reminder period
    (resolved,) = book.tick(T0 + 40 * S + 300 * S)
    assert resolved.kind == "resolved" and "no further alert" in resolved.reason
    assert book.open_keys == ()
    assert [m.kind for m in book.on_alert(alert(9), T0 + 400 * S)] == ["incident"]  # a new one


def test_a_halt_is_resolved_by_a_heartbeat_trading_again_written_after_it() -> None:
    book = IncidentBook(CONFIG)
    book.on_alert(alert(1, rule="drawdown_limit", severity="CRITICAL", at=T0 + 5 * S), T0 + 6 * S)
    # A heartbeat from before the halt says ACTIVE: it predates it, and resolves nothing.
    assert book.on_status(heartbeat(T0 + 4 * S, "ACTIVE"), T0 + 6 * S) == []
    assert book.on_status(heartbeat(T0 + 7 * S, "HALTED"), T0 + 7 * S) == []
    assert book.tick(T0 + 7 * S + 300 * S) == []  # a halt is not resolved by quiet
    (resolved,) = book.on_status(heartbeat(T0 + 400 * S, "ACTIVE"), T0 + 400 * S)
    assert (resolved.kind, resolved.reason) == ("resolved", "trading is ACTIVE again")


def test_a_part_down_in_the_heartbeat_opens_an_incident_until_it_works_again() -> None:
    book = IncidentBook(CONFIG)
    down = (("target watcher", "DOWN", "ended: OSError"), ("OMS writer", "OK", "0 pending"))
    (opened,) = book.on_status(heartbeat(T0, parts=down), T0)
    assert (opened.kind, opened.incident) == ("incident", "part:target watcher")
    assert book.on_status(heartbeat(T0 + S, parts=down), T0 + S) == []
    (resolved,) = book.on_status(heartbeat(T0 + 2 * S, parts=()), T0 + 2 * S)
    assert (resolved.kind, resolved.incident) == ("resolved", "part:target watcher")


def test_a_failing_oms_writer_and_a_venue_down_are_problems() -> None:
    status = msgspec.structs.replace(
        heartbeat(T0, parts=(("OMS writer", "WARN", "disk I/O error"),)),
        venue_connection="DOWN",
        detail="BINANCE lost",
    )
    assert status_problems(status) == {
        "part:OMS writer": "OMS writer WARN: disk I/O error",
        "part:venue": "BINANCE DOWN: BINANCE lost",
    }


def test_a_starting_node_whose_feed_is_not_connected_yet_opens_nothing() -> None:
    book = IncidentBook(CONFIG)
    starting = msgspec.structs.replace(
        heartbeat(T0, node_state="STARTING"), data_feed="DOWN", venue_connection="DOWN"
    )
    assert book.on_status(starting, T0) == []
    (opened, _) = book.on_status(msgspec.structs.replace(starting, node_state="DEGRADED"), T0)
    assert opened.incident == "part:data feed"


def test_node_down_from_a_console_is_resolved_once_a_node_runs() -> None:
    book = IncidentBook(CONFIG)
    book.on_alert(alert(1, rule="node_down", severity="CRITICAL", at=T0), T0 + S)
    (resolved,) = book.on_status(heartbeat(T0 + 2 * S), T0 + 2 * S)
    assert resolved.reason == "a node runs again"


def test_a_restored_incident_is_not_announced_again() -> None:
    book = IncidentBook(CONFIG)
    book.restore("alert:target_file", "ERROR", "earlier", T0, T0)
    assert book.on_alert(alert(1, at=T0 + S), T0 + S) == []
