"""``Notifier``: the node's notifications, run beside it and never in its way.

A thread of its own reads the OMS's ``risk_alerts`` table through its own read-only connection
(``core.oms.sync_reader``: the SQLite file, or the PostgreSQL server), every ``POLL_SECS``:
whoever wrote an alert (the node, a console's ``node_down``, ``trade-console kill`` from a
shell), it is seen here, and nothing on the node's event loop or order path waits for it. The
node hands it each heartbeat (``observe``: one assignment), from which it learns the mode, the
trading state and the parts that are DOWN.

At start it reads back what earlier nodes sent (``notifications``), so an incident already
announced and not resolved is not announced again after a restart, and sends the alerts of the
last ``[notify] catch_up_secs`` no notification covers yet. Which alerts are new is kept by an
``AlertCursor`` (``core.notify.alert_cursor``: how each back end guarantees that no alert is
missed or read twice). A failed read (a lock held too long, a server restarting) is retried at
the next poll, the catch-up included, and shown meanwhile as the watch's WARN part.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping

from core.config import AppConfig
from core.notify.alert_cursor import ALERT_COLUMNS, AlertCursor, alert, cursor_for
from core.notify.channels import Channel, load_channels
from core.notify.incidents import IncidentBook, Message, alert_key
from core.notify.sender import ChannelSender, Outgoing
from core.notify.text import compose
from core.oms import NodeStatus, Notification, OmsError
from core.oms.sync_reader import SyncReader, connect_read_only

_log = logging.getLogger(__name__)
POLL_SECS = 0.25
"""How often the OMS is read for new alerts (one indexed read of a few rows)."""
_BATCH = 500


class Notifier:
    """Watches the OMS and the node's heartbeat; sends through one ``ChannelSender`` per
    channel.

    Raises
    ------
    ConfigError
        From ``load_channels``: a ``${NAME}`` not set, a URL apprise does not know.
    """

    def __init__(
        self,
        config: AppConfig,
        database: str,
        record: Callable[[Notification], None],
        *,
        mode: str,
        environ: Mapping[str, str] | None = None,
        now_ns: Callable[[], int] = time.time_ns,
        poll_secs: float = POLL_SECS,
    ) -> None:
        notify = config.notify
        self.channels: tuple[Channel, ...] = load_channels(notify, environ)
        self.desk = notify.desk or config.node.trader_id
        self._config = notify
        self._database = database
        self._mode = mode
        self._now_ns = now_ns
        self._poll_secs = poll_secs
        self._book = IncidentBook(notify)
        self._senders = tuple(
            ChannelSender(
                channel,
                timeout_secs=notify.timeout_secs,
                max_per_minute=notify.max_per_minute,
                record=record,
                now_ns=now_ns,
            )
            for channel in self.channels
        )
        self._status: NodeStatus | None = None
        self._seen_status: NodeStatus | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-watch", daemon=True)
        self._error: str | None = None

    def start(self) -> None:
        """Start the senders and the watch (returns at once)."""
        for sender in self._senders:
            sender.start()
        self._thread.start()
        _log.info(
            "notify: %d channels (%s), desk %s",
            len(self.channels),
            ", ".join(channel.name for channel in self.channels),
            self.desk,
        )

    def observe(self, status: NodeStatus) -> None:
        """The node's latest heartbeat (called on the loop; only stores it)."""
        self._status = status

    def stop(self, wait_secs: float = 2.0) -> None:
        """Stop watching, give the queued messages up to ``wait_secs``, then stop the senders.
        Blocks: call it from a worker thread (``asyncio.to_thread``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(wait_secs)
        deadline = time.monotonic() + wait_secs
        for sender in self._senders:
            sender.stop(max(deadline - time.monotonic(), 0.0))

    def parts(self) -> tuple[tuple[str, str, str], ...]:
        """Each channel's state, and the watch's when it cannot read the OMS, as parts of the
        node (the Health pane shows them)."""
        parts = [sender.part() for sender in self._senders]
        if self._thread.ident is not None and not self._thread.is_alive():
            if not self._stop.is_set():
                parts.append(("notify watch", "DOWN", "stopped: no alert is sent any more"))
        elif self._error is not None:
            parts.append(("notify watch", "WARN", self._error))  # "cannot read the OMS ..."
        return tuple(parts)

    # -- the watch thread -------------------------------------------------------------------

    def _run(self) -> None:
        reader: SyncReader | None = None
        try:
            cursor: AlertCursor | None = None
            while True:
                try:
                    if reader is None:
                        reader = connect_read_only(self._database)
                    if cursor is None:
                        cursor = self._catch_up(reader)
                    self._poll(reader, cursor)
                    self._error = None
                except OmsError as error:  # a locked or failing read, a server away: try again
                    self._error = error.problem
                    _log.warning("notify: cannot read the OMS: %s", error)
                    # What the node's own heartbeat says needs no OMS: an OMS that cannot be
                    # written is exactly what the channels must hear of now.
                    self._dispatch(self._from_status(self._now_ns()), None)
                if self._stop.wait(self._poll_secs):
                    if cursor is not None and reader is not None:
                        with contextlib.suppress(OmsError):
                            self._poll(reader, cursor)  # what was committed before the stop
                    return
        except Exception:
            _log.exception("notify: the watch stopped")
        finally:
            if reader is not None:
                reader.close()

    def _catch_up(self, reader: SyncReader) -> AlertCursor:
        now = self._now_ns()
        since = now - int(self._config.catch_up_secs * 1e9)
        latest: dict[str, tuple[str, str, str, int]] = {}
        for incident, kind, severity, title, ts in reader.fetch(
            "SELECT incident, kind, severity, title, ts_event FROM notifications"
            " WHERE ts_event >= ? AND kind <> 'test' ORDER BY ts_event",
            (since,),
        ):
            latest[incident] = (kind, severity, title, ts)
        for incident, (kind, severity, title, ts) in latest.items():
            if kind != "resolved":
                self._book.restore(incident, severity, title, ts, ts)
        cursor = cursor_for(reader, self._now_ns)
        present, params = cursor.start(reader)
        missed = [
            alert(row)
            for row in reader.fetch(
                f"SELECT {ALERT_COLUMNS} FROM risk_alerts WHERE run_id IS NULL AND ts_event >= ?"
                f" AND {present} AND severity IN ('ERROR', 'CRITICAL') AND alert_id NOT IN"
                " (SELECT alert_id FROM notifications WHERE alert_id IS NOT NULL)"
                f" ORDER BY {cursor.order}",
                (since, *params),
            )
        ]
        messages = []
        for missed_alert in missed:
            told = latest.get(alert_key(missed_alert))
            if told is not None and missed_alert.ts_event <= told[3]:
                continue  # came before its incident's last message: counted then, or resolved
            messages += self._book.on_alert(missed_alert, now)
        cursor.remember(missed)
        self._dispatch(messages, reader)
        return cursor

    def _poll(self, reader: SyncReader, cursor: AlertCursor) -> None:
        now = self._now_ns()
        messages: list[Message] = []
        for new in cursor.new_alerts(reader, _BATCH):
            messages += self._book.on_alert(new, now)
        self._dispatch(messages + self._from_status(now), reader)

    def _from_status(self, now: int) -> list[Message]:
        # The incidents the latest heartbeat opens or resolves, and the reminders due.
        messages: list[Message] = []
        status = self._status
        if status is not None and status is not self._seen_status:
            self._seen_status = status
            messages += self._book.on_status(status, now)
        return messages + self._book.tick(now)

    def _dispatch(self, messages: list[Message], reader: SyncReader | None) -> None:
        if not messages:
            return
        status = self._status
        mode = self._mode if status is None else status.mode
        # The state recorded in force, fresher than the last heartbeat (up to a beat old): an
        # automatic halt's alert and its state change are written together. With the OMS
        # unreadable, the heartbeat's.
        trading = "UNKNOWN" if status is None else status.trading_state
        if reader is not None:
            with contextlib.suppress(OmsError):
                trading = _persisted_state(reader)
        for message in messages:
            title, body = compose(message, self.desk, mode, trading)
            outgoing = Outgoing(
                message.kind, message.incident, message.severity, title, body, message.alert_id
            )
            for sender in self._senders:
                sender.put(outgoing)


def _persisted_state(reader: SyncReader) -> str:
    row = reader.one("SELECT state FROM trading_state ORDER BY ts_event DESC LIMIT 1")
    return "ACTIVE" if row is None else row[0]
