"""``Notifier``: the node's notifications, run beside it and never in its way.

A thread of its own reads the OMS's ``risk_alerts`` table through its own read-only SQLite
connection, every ``POLL_SECS``: whoever wrote an alert (the node, a console's ``node_down``,
``trade-console kill`` from a shell), it is seen here, and nothing on the node's event loop or
order path waits for it. The node hands it each heartbeat (``observe``: one assignment), from
which it learns the mode, the trading state and the parts that are DOWN.

At start it reads back what earlier nodes sent (``notifications``), so an incident already
announced and not resolved is not announced again after a restart, and sends the alerts of the
last ``[notify] catch_up_secs`` no notification covers yet.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from core.config import AppConfig
from core.errors import one_line
from core.notify.channels import Channel, load_channels
from core.notify.incidents import IncidentBook, Message, alert_key
from core.notify.sender import ChannelSender, Outgoing
from core.notify.text import compose
from core.oms import NodeStatus, Notification, RiskAlert

_log = logging.getLogger(__name__)
POLL_SECS = 0.25
"""How often the OMS is read for new alerts (one indexed read of a few rows)."""
_BATCH = 500
_ALERT_COLUMNS = "rowid, alert_id, ts_event, severity, rule, message, instrument_id"


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
            parts.append(("notify watch", "WARN", f"cannot read the OMS: {self._error}"))
        return tuple(parts)

    # -- the watch thread -------------------------------------------------------------------

    def _run(self) -> None:
        connection = None
        try:
            connection = _connect(self._database)
            cursor = self._catch_up(connection)
            while True:
                try:
                    cursor = self._poll(connection, cursor)
                    self._error = None
                except sqlite3.Error as error:  # a locked or failing read: try again
                    self._error = one_line(error)
                    _log.warning("notify: cannot read the OMS: %s", self._error)
                if self._stop.wait(self._poll_secs):
                    self._poll(connection, cursor)  # what was committed before the stop
                    return
        except Exception:
            _log.exception("notify: the watch stopped")
        finally:
            if connection is not None:
                connection.close()

    def _catch_up(self, connection: sqlite3.Connection) -> int:
        now = self._now_ns()
        since = now - int(self._config.catch_up_secs * 1e9)
        latest: dict[str, tuple[str, str, str, int]] = {}
        for incident, kind, severity, title, ts in connection.execute(
            "SELECT incident, kind, severity, title, ts_event FROM notifications"
            " WHERE ts_event >= ? AND kind <> 'test' ORDER BY ts_event",
            (since,),
        ):
            latest[incident] = (kind, severity, title, ts)
        for incident, (kind, severity, title, ts) in latest.items():
            if kind != "resolved":
                self._book.restore(incident, severity, title, ts, ts)
        cursor = connection.execute("SELECT coalesce(max(rowid), 0) FROM risk_alerts").fetchone()[0]
        missed = connection.execute(
            f"SELECT {_ALERT_COLUMNS} FROM risk_alerts WHERE run_id IS NULL AND ts_event >= ?"
            " AND severity IN ('ERROR', 'CRITICAL') AND alert_id NOT IN"
            " (SELECT alert_id FROM notifications WHERE alert_id IS NOT NULL) ORDER BY rowid",
            (since,),
        ).fetchall()
        messages = []
        for row in missed:
            alert = _alert(row)
            told = latest.get(alert_key(alert))
            if told is not None and alert.ts_event <= told[3]:
                continue  # came before its incident's last message: counted then, or resolved
            messages += self._book.on_alert(alert, now)
        self._dispatch(messages, connection)
        return cursor

    def _poll(self, connection: sqlite3.Connection, cursor: int) -> int:
        now = self._now_ns()
        top = connection.execute("SELECT coalesce(max(rowid), 0) FROM risk_alerts").fetchone()[0]
        cursor = min(cursor, top)  # rows deleted (a backtest's): new rowids restart lower
        messages: list[Message] = []
        rows = connection.execute(
            f"SELECT {_ALERT_COLUMNS} FROM risk_alerts WHERE rowid > ? AND run_id IS NULL"
            " ORDER BY rowid LIMIT ?",
            (cursor, _BATCH),
        ).fetchall()
        for row in rows:
            cursor = row[0]
            messages += self._book.on_alert(_alert(row), now)
        status = self._status
        if status is not None and status is not self._seen_status:
            self._seen_status = status
            messages += self._book.on_status(status, now)
        messages += self._book.tick(now)
        self._dispatch(messages, connection)
        return cursor

    def _dispatch(self, messages: list[Message], connection: sqlite3.Connection) -> None:
        if not messages:
            return
        status = self._status
        mode = self._mode if status is None else status.mode
        # The state recorded in force, fresher than the last heartbeat (up to a beat old): an
        # automatic halt's alert and its state change are written together.
        trading = _persisted_state(connection)
        for message in messages:
            title, body = compose(message, self.desk, mode, trading)
            outgoing = Outgoing(
                message.kind, message.incident, message.severity, title, body, message.alert_id
            )
            for sender in self._senders:
                sender.put(outgoing)


def _connect(database: str) -> sqlite3.Connection:
    # Read-only, its own: the node's writer and this reader never wait on each other (WAL).
    uri = Path(database).resolve().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=5.0)
    connection.execute("PRAGMA query_only = ON")
    return connection


def _alert(row: tuple) -> RiskAlert:
    _, alert_id, ts_event, severity, rule, message, instrument_id = row
    return RiskAlert(
        alert_id=alert_id,
        ts_event=ts_event,
        severity=severity,
        rule=rule,
        message=message,
        instrument_id=instrument_id,
    )


def _persisted_state(connection: sqlite3.Connection) -> str:
    row = connection.execute(
        "SELECT state FROM trading_state ORDER BY ts_event DESC LIMIT 1"
    ).fetchone()
    return "ACTIVE" if row is None else row[0]
