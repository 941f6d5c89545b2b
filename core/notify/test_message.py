"""``send_test``: one test message to every channel, what ``trade-console notify --test`` runs.

The way to learn that a token is wrong before the night it matters. Every channel is tried at
once, each in a thread of its own, so one that hangs costs its own ``[notify] timeout_secs``
and no more; the outcome of each is returned (and recorded in the OMS by the caller, as any
notification).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from core.config import AppConfig
from core.errors import ConfigError
from core.notify.channels import Channel, SendResult, load_channels
from core.oms import Notification

TEST_INCIDENT = "test"


def send_test(
    config: AppConfig, environ: Mapping[str, str] | None = None
) -> list[tuple[Channel, SendResult, Notification]]:
    """Send a test message to each of ``[notify] urls``; each channel's outcome and its record.

    Raises
    ------
    ConfigError
        No channel configured, a ``${NAME}`` not set, a URL apprise does not know.
    """
    channels = load_channels(config.notify, environ)
    if not channels:
        raise ConfigError("notify.urls: no channel configured: nothing to test")
    desk = config.notify.desk or config.node.trader_id
    title = f"{desk}: test message"
    body = (
        f"{desk} | trade-console notify --test from {socket.gethostname()}\n"
        "If you read this, the node's alerts reach this channel."
    )
    timeout = config.notify.timeout_secs
    with ThreadPoolExecutor(max_workers=len(channels), thread_name_prefix="notify-test") as pool:
        results = list(pool.map(lambda c: c.send(title, body, "INFO", timeout), channels))
    now = time.time_ns()
    return [
        (
            channel,
            result,
            Notification(
                notification_id=uuid.uuid4().hex,
                ts_event=now,
                channel=channel.name,
                kind="test",
                incident=TEST_INCIDENT,
                severity="INFO",
                status="sent" if result.ok else "failed",
                title=title,
                body=body,
                error=result.error,
                elapsed_ms=result.elapsed_ms,
            ),
        )
        for channel, result in zip(channels, results, strict=True)
    ]
