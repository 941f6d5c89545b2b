"""The notifier end to end: a real OMS on both back ends (a SQLite file, a PostgreSQL server),
real apprise, a local HTTP server as the channel.

Alerts are written to the OMS as the node writes them; the notifier reads them from its own
thread and connection, and the webhook server records what arrives.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from node_helpers import until
from webhook_server import HangingServer, WebhookServer

from core.config import AppConfig, NotifyConfig
from core.errors import ConfigError
from core.notify.channels import load_channels
from core.notify.notifier import Notifier
from core.oms import NodeStatus, OmsStore, RiskAlert

S = 1_000_000_000


def config(*urls: str, **notify: object) -> AppConfig:
    return AppConfig(notify=NotifyConfig(urls=urls, desk="DESK-A", **notify))


def alert(n: int, rule: str = "target_file", severity: str = "ERROR") -> RiskAlert:
    return RiskAlert(
        alert_id=f"{rule}-{n}",
        ts_event=time.time_ns(),
        severity=severity,
        rule=rule,
        message=f"target file refused ({n}): weights sum to 1.4",
    )


def heartbeat(trading: str) -> NodeStatus:
    return NodeStatus(
        ts_event=time.time_ns(),
        mode="SHADOW",
        venues=("BINANCE",),
        node_state="RUNNING",
        trading_state=trading,
        data_feed="OK",
        venue_connection="OK",
        equity=100.0,
    )


async def started(cfg: AppConfig, store: OmsStore) -> Notifier:
    notifier = Notifier(cfg, store.path, store.submit, mode="SHADOW", poll_secs=0.02)
    notifier.start()
    return notifier


async def rows_until(store: OmsStore, ready, what: str, timeout: float = 20.0) -> list:
    """The notifications rows, once ``ready(rows)`` holds (read again until then)."""
    deadline = time.monotonic() + timeout
    while True:
        await store.flush()
        rows = await store.notifications()
        if ready(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {rows}")
        await asyncio.sleep(0.02)


async def test_a_burst_of_alerts_arrives_as_one_message_per_incident(oms_location: str) -> None:
    async with await OmsStore.open(oms_location) as store, WebhookServer() as hook:
        notifier = await started(config(hook.url()), store)
        try:
            store.submit_many([alert(n) for n in range(10)])
            store.submit(alert(0, rule="orphaned_orders"))  # a second incident, after the burst
            await store.flush()
            # The channel is served in order: once the second incident's message is in, every
            # alert of the burst has been read and judged.
            await until(lambda: len(hook.received) >= 2, what="two messages")
            assert hook.titles() == ["DESK-A: ERROR target_file", "DESK-A: ERROR orphaned_orders"]
            first = hook.received[0]["message"]
            assert first.splitlines()[0] == "DESK-A | SHADOW | trading ACTIVE"
            assert "target file refused (0)" in first
            rows = await rows_until(store, lambda r: len(r) == 2, "both sends recorded")
        finally:
            await asyncio.to_thread(notifier.stop)
        assert {(r.kind, r.incident, r.status, r.alert_id) for r in rows} == {
            ("incident", "alert:target_file", "sent", "target_file-0"),
            ("incident", "alert:orphaned_orders", "sent", "orphaned_orders-0"),
        }
        assert len(hook.received) == 2


async def test_a_halt_is_announced_once_and_resolved_by_the_re_arm(oms_location: str) -> None:
    async with await OmsStore.open(oms_location) as store, WebhookServer() as hook:
        notifier = await started(config(hook.url()), store)
        try:
            notifier.observe(heartbeat("ACTIVE"))
            store.submit(alert(1, rule="drawdown_limit", severity="CRITICAL"))
            store.submit(alert(2, rule="drawdown_limit", severity="CRITICAL"))
            await store.flush()
            notifier.observe(heartbeat("HALTED"))
            await until(lambda: len(hook.received) >= 1, what="the halt's message")
            notifier.observe(heartbeat("ACTIVE"))  # the re-arm
            await until(lambda: len(hook.received) >= 2, what="the resolution")
        finally:
            await asyncio.to_thread(notifier.stop)
        assert hook.titles() == [
            "DESK-A: CRITICAL drawdown_limit",
            "DESK-A: resolved drawdown_limit",
        ]
        assert hook.received[1]["message"].startswith("DESK-A | SHADOW | trading ACTIVE\n")
        assert "resolved: trading is ACTIVE again" in hook.received[1]["message"]
        assert (hook.received[0]["type"], hook.received[1]["type"]) == ("failure", "success")


async def test_a_dead_channel_is_recorded_failed_and_does_not_stop_the_others(
    oms_location: str,
) -> None:
    with HangingServer() as closed:
        dead_port = closed.port
    # Nothing listens on dead_port any more: every connection is refused.
    dead = f"json://127.0.0.1:{dead_port}/hook"
    async with await OmsStore.open(oms_location) as store, WebhookServer() as hook:
        notifier = await started(config(dead, hook.url()), store)
        try:
            store.submit(alert(1))
            rows = await rows_until(store, lambda r: len(r) == 2, "a row per channel")
            parts = dict((name, (state, detail)) for name, state, detail in notifier.parts())
        finally:
            await asyncio.to_thread(notifier.stop)
        by_channel = {row.channel: row for row in rows}
        assert by_channel[f"json://127.0.0.1:{hook.port}/hook"].status == "sent"
        failed = by_channel[dead]
        assert failed.status == "failed" and "Connection error" in (failed.error or "")
        assert parts["notify 1"][0] == "WARN" and "last send failed" in parts["notify 1"][1]
        assert parts["notify 2"][0] == "OK" and "1 sent, 0 failed" in parts["notify 2"][1]


async def test_a_hanging_channel_holds_up_only_itself(oms_location: str) -> None:
    with HangingServer() as hanging:
        async with await OmsStore.open(oms_location) as store, WebhookServer() as hook:
            cfg = config(hanging.url(), hook.url(), timeout_secs=60)
            notifier = await started(cfg, store)
            try:
                store.submit(alert(1))
                store.submit(alert(1, rule="orphaned_orders"))
                await store.flush()
                await until(lambda: len(hook.received) == 2, what="both messages, other channel")
                # The hanging channel is still on its first message: it held up nothing else.
                assert notifier._senders[0].sending
                assert notifier._senders[0].sent + notifier._senders[0].failed == 0
                assert "1 waiting, sending" in notifier.parts()[0][2]
            finally:
                await asyncio.to_thread(notifier.stop, 0.5)
            # Stopping did not wait out the hanging send's 60 s timeout: it is still under
            # way (its daemon thread ends when the server goes, below).
            assert notifier._senders[0].sending


async def test_a_restarted_notifier_sends_what_was_missed_and_nothing_twice(
    oms_location: str,
) -> None:
    async with await OmsStore.open(oms_location) as store, WebhookServer() as hook:
        first = await started(config(hook.url()), store)
        try:
            store.submit(alert(1))
            await rows_until(store, lambda r: len(r) == 1, "the first message recorded")
        finally:
            await asyncio.to_thread(first.stop)
        # While no notifier runs: the same incident again, and a node_down a console wrote.
        store.submit(alert(2))
        store.submit(alert(1, rule="node_down", severity="CRITICAL"))
        await store.flush()
        second = await started(config(hook.url()), store)
        try:
            await rows_until(store, lambda r: len(r) == 2, "the missed alert sent")
        finally:
            await asyncio.to_thread(second.stop)
        assert hook.titles() == ["DESK-A: ERROR target_file", "DESK-A: CRITICAL node_down"]


async def test_a_restart_after_an_incident_was_resolved_does_not_announce_its_repeats(
    oms_location: str,
) -> None:
    async with await OmsStore.open(oms_location) as store, WebhookServer() as hook:
        first = await started(config(hook.url(), resolve_after_secs=0.2), store)
        try:
            store.submit_many([alert(n) for n in range(5)])  # one incident, four repeats
            await rows_until(store, lambda r: {x.kind for x in r} == {"incident", "resolved"}, "")
        finally:
            await asyncio.to_thread(first.stop)
        second = await started(config(hook.url()), store)
        try:
            store.submit(alert(0, rule="orphaned_orders"))  # read after the catch-up
            await store.flush()
            await until(lambda: len(hook.received) == 3, what="the new incident")
        finally:
            await asyncio.to_thread(second.stop)
        assert hook.titles() == [
            "DESK-A: ERROR target_file",
            "DESK-A: resolved target_file",
            "DESK-A: ERROR orphaned_orders",
        ]


async def test_channel_secrets_come_from_the_environment_and_are_never_shown(
    oms_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_PASSWORD", "s3cret-token")
    async with await OmsStore.open(oms_location) as store, WebhookServer() as hook:
        notifier = await started(config(hook.url(auth="desk:${HOOK_PASSWORD}@")), store)
        try:
            store.submit(alert(1))
            (row,) = await rows_until(store, lambda r: len(r) == 1, "the send recorded")
            parts = notifier.parts()
        finally:
            await asyncio.to_thread(notifier.stop)
        assert row.status == "sent"
        assert "s3cret" not in repr(row) and "s3cret" not in repr(parts)
        assert row.channel == f"json://desk:****@127.0.0.1:{hook.port}/hook"


@pytest.mark.parametrize(
    ("urls", "environ", "message"),
    [
        (("json://u:${MISSING}@h/x",), {}, "notify.urls.0: ${MISSING} is not set"),
        (("ok://x", "nope://secret@x"), {}, "notify.urls.0: 'ok://...' is not a URL apprise"),
        (
            ("json://h/x", "nope://secret@x"),
            {},
            "notify.urls.1: 'nope://...' is not a URL apprise can send to",
        ),
    ],
    ids=["variable-not-set", "unknown-scheme", "second-url-named"],
)
def test_a_bad_channel_is_one_line_naming_its_field_never_its_secret(
    urls: tuple[str, ...], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_channels(NotifyConfig(urls=urls), environ)
    assert message in str(raised.value)
    assert "secret" not in str(raised.value) and "\n" not in str(raised.value)
