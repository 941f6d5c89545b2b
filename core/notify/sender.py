"""``ChannelSender``: one channel's thread, its queue and its rate limit.

One thread per channel, so a channel that hangs (a webhook that accepts and never answers)
holds up its own messages only, for ``[notify] timeout_secs`` each, and never another
channel, the notifier's reading of the OMS, the event loop or an order. Each send becomes a
``Notification`` for the OMS, handed to ``record`` (the store's thread-safe ``submit``).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import one_line
from core.notify.channels import Channel
from core.oms import Notification

_log = logging.getLogger(__name__)
_MINUTE_NS = 60_000_000_000


@dataclass(frozen=True)
class Outgoing:
    """A composed message waiting for its channel."""

    kind: str
    incident: str
    severity: str
    title: str
    body: str
    alert_id: str | None = None


class ChannelSender:
    """Sends ``Outgoing`` messages to one channel in order, at most ``max_per_minute``."""

    def __init__(
        self,
        channel: Channel,
        *,
        timeout_secs: float,
        max_per_minute: int,
        record: Callable[[Notification], None],
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.channel = channel
        self._timeout = timeout_secs
        self._max = max_per_minute
        self._record = record
        self._now_ns = now_ns
        self._queue: queue.Queue[Outgoing | None] = queue.Queue()
        self._sent_at: deque[int] = deque()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"notify-{channel.index}", daemon=True
        )
        self.sent = 0
        self.failed = 0
        self.last_sent_ns: int | None = None
        self.last_failed_ns: int | None = None
        self.last_error: str | None = None
        self.sending = False
        """A send is under way (a hanging channel stays here until its timeout)."""

    def start(self) -> None:
        self._thread.start()

    def put(self, outgoing: Outgoing) -> None:
        """Queue ``outgoing``; returns at once."""
        self._queue.put_nowait(outgoing)

    def stop(self, wait_secs: float) -> None:
        """Send what is queued within ``wait_secs``, then stop; a send still hanging is left
        to its daemon thread (it ends at its timeout), never waited for longer."""
        self._queue.put_nowait(None)
        self._thread.join(wait_secs)
        self._stopping.set()

    @property
    def waiting(self) -> int:
        """Messages queued, not yet sent."""
        return self._queue.qsize()

    def part(self) -> tuple[str, str, str]:
        """This channel as a part of the node, for the heartbeat: (name, OK|WARN, detail)."""
        name = f"notify {self.channel.index + 1}"
        counts = f"{self.sent} sent, {self.failed} failed"
        if self.waiting:
            counts += f", {self.waiting} waiting"
        if self.sending:
            counts += ", sending"
        failed_last = self.last_failed_ns is not None and (
            self.last_sent_ns is None or self.last_failed_ns > self.last_sent_ns
        )
        if failed_last:
            return (
                name,
                "WARN",
                f"{self.channel.name}: {counts}; last send failed at "
                f"{_clock(self.last_failed_ns)}: {self.last_error}",
            )
        last = (
            "nothing sent yet" if self.last_sent_ns is None else f"last {_clock(self.last_sent_ns)}"
        )
        return name, "OK", f"{self.channel.name}: {counts}, {last}"

    def _run(self) -> None:
        while True:
            outgoing = self._queue.get()
            if outgoing is None:
                return
            self._pace()
            try:
                self._send(outgoing)
            except Exception:  # the thread must outlive any one message
                _log.exception("notify %s: sending failed", self.channel.name)

    def _pace(self) -> None:
        # The rate limit: the (max+1)th send in a minute waits for the oldest to age out.
        while len(self._sent_at) >= self._max:
            wait_ns = self._sent_at[0] + _MINUTE_NS - self._now_ns()
            if wait_ns <= 0:
                self._sent_at.popleft()
                continue
            if self._stopping.wait(wait_ns / 1e9):
                return

    def _send(self, outgoing: Outgoing) -> None:
        self.sending = True
        try:
            look = "RESOLVED" if outgoing.kind == "resolved" else outgoing.severity
            result = self.channel.send(outgoing.title, outgoing.body, look, self._timeout)
        finally:
            self.sending = False
        now = self._now_ns()
        self._sent_at.append(now)
        if result.ok:
            self.sent += 1
            self.last_sent_ns = now
            _log.info("notify %s: sent %s %s", self.channel.name, outgoing.kind, outgoing.incident)
        else:
            self.failed += 1
            self.last_failed_ns = now
            self.last_error = result.error
            _log.warning(
                "notify %s: %s %s not sent: %s",
                self.channel.name,
                outgoing.kind,
                outgoing.incident,
                result.error,
            )
        record = Notification(
            notification_id=uuid.uuid4().hex,
            ts_event=now,
            channel=self.channel.name,
            kind=outgoing.kind,
            incident=outgoing.incident,
            severity=outgoing.severity,
            status="sent" if result.ok else "failed",
            title=outgoing.title,
            body=outgoing.body,
            alert_id=outgoing.alert_id,
            error=result.error,
            elapsed_ms=result.elapsed_ms,
        )
        try:
            self._record(record)
        except Exception as error:  # the OMS closed or failing: the log keeps the outcome
            _log.error("notify %s: cannot record the send: %s", self.channel.name, one_line(error))


def _clock(ns: int | None) -> str:
    if ns is None:
        return "-"
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%H:%M:%S UTC")
