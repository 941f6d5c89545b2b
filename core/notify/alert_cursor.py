"""Where the notifier's watch stands in ``risk_alerts``: each new alert read once, none missed.

Alerts are written by several processes (the node, a console's ``node_down``, ``trade-console
kill`` from a shell), each stamping ``ts_event`` with its own clock before its writer commits
them. So the order of the timestamps is not the order of the commits: an alert can become
visible after another with a later ``ts_event``. A cursor that only moves forward on
``ts_event`` would skip it. Each back end has its own answer:

- SQLite (``RowidCursor``): a row's ``rowid`` grows in commit order (writers take the file's one
  write lock in turn, and a new row takes the largest rowid plus one), so "rowid above the
  last one read" is exactly "committed since". A backtest deleting its own rows may lower the
  largest rowid: the cursor is lowered with it.
- PostgreSQL (``WindowCursor``): rows have no such number. The cursor is the greatest
  ``(ts_event, alert_id)`` read, and new rows above it are read in that order; an alert that
  became visible late, below the cursor, is found by looking back ``window_secs`` behind it and
  skipping the ids already read. The ids read within the window are kept, so nothing is sent
  twice; each poll counts the window's rows (one indexed count) and reads them only when the
  count differs from the ids kept. The window's start only ever moves forward (a start that
  moved back would count ids already forgotten and send them again), and it follows the
  older of the cursor and the reader's clock, so an alert stamped by a clock far ahead does not
  drag the window past the others. An alert is missed only if it becomes visible more than
  ``window_secs`` after that start passed its timestamp (a writer's clock that far behind, or
  a commit that late), or if more than ``max_seen`` alerts fall within the window (then the
  window shrinks to keep the newest ``max_seen``): both far beyond what a desk sees.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Protocol

from core.oms import RiskAlert
from core.oms.sync_reader import SyncReader

ALERT_COLUMNS = "alert_id, ts_event, severity, rule, message, instrument_id"
"""The columns ``alert`` reads a ``RiskAlert`` from."""
WINDOW_SECS = 900.0
"""How far behind its cursor a PostgreSQL watch looks for alerts that became visible late."""
MAX_SEEN = 100_000
"""The most alert ids a PostgreSQL watch keeps (those within the window)."""


def alert(row: tuple) -> RiskAlert:
    """A ``RiskAlert`` from a row of ``ALERT_COLUMNS``."""
    alert_id, ts_event, severity, rule, message, instrument_id = row
    return RiskAlert(
        alert_id=alert_id,
        ts_event=ts_event,
        severity=severity,
        rule=rule,
        message=message,
        instrument_id=instrument_id,
    )


class AlertCursor(Protocol):
    """The node's alerts (``run_id IS NULL``) not read yet, in the order they are found."""

    def start(self, reader: SyncReader) -> tuple[str, tuple]:
        """Stand after every alert present now; return a SQL condition on ``risk_alerts`` and
        its ``?`` parameters, true of those alerts (and perhaps of some committed since, which
        the catch-up then hands to ``remember``): the catch-up reads only them."""
        ...

    order: str
    """The catch-up's ``ORDER BY``: the order alerts are read in."""

    def remember(self, alerts: Iterable[RiskAlert]) -> None:
        """The catch-up judged ``alerts``: never return them."""
        ...

    def new_alerts(self, reader: SyncReader, limit: int) -> list[RiskAlert]:
        """Alerts that became visible since the last call (up to about ``limit``)."""
        ...


class RowidCursor:
    """SQLite's: rowids grow in commit order (see the module docstring)."""

    order = "rowid"

    def __init__(self) -> None:
        self._rowid = 0

    def start(self, reader: SyncReader) -> tuple[str, tuple]:
        self._rowid = _top_rowid(reader)
        return "rowid <= ?", (self._rowid,)

    def remember(self, alerts: Iterable[RiskAlert]) -> None:
        """Nothing to keep: the catch-up read only rowids up to the cursor."""

    def new_alerts(self, reader: SyncReader, limit: int) -> list[RiskAlert]:
        # Rows deleted (a backtest's): new rowids restart lower.
        self._rowid = min(self._rowid, _top_rowid(reader))
        rows = reader.fetch(
            f"SELECT rowid, {ALERT_COLUMNS} FROM risk_alerts WHERE rowid > ? AND run_id IS NULL"
            " ORDER BY rowid LIMIT ?",
            (self._rowid, limit),
        )
        if rows:
            self._rowid = rows[-1][0]
        return [alert(row[1:]) for row in rows]


class WindowCursor:
    """PostgreSQL's: a ``(ts_event, alert_id)`` cursor and a look-back window (see the module
    docstring for why it never sends an alert twice and when it could miss one)."""

    order = "ts_event, alert_id"

    def __init__(
        self,
        now_ns: Callable[[], int],
        window_secs: float = WINDOW_SECS,
        max_seen: int = MAX_SEEN,
    ) -> None:
        self._now_ns = now_ns
        self._window_ns = int(window_secs * 1e9)
        self._max_seen = max_seen
        self._last: tuple[int, str] | None = None
        self._low = -(2**63)
        self._seen: set[str] = set()
        self._by_time: list[tuple[int, str]] = []  # a heap of the ids kept, oldest first

    def start(self, reader: SyncReader) -> tuple[str, tuple]:
        row = reader.one(
            "SELECT ts_event, alert_id FROM risk_alerts WHERE run_id IS NULL"
            " ORDER BY ts_event DESC, alert_id DESC LIMIT 1"
        )
        if row is None:
            return "1 = 0", ()
        self._last = (row[0], row[1])
        self._advance_low()
        for ts_event, alert_id in reader.fetch(
            "SELECT ts_event, alert_id FROM risk_alerts WHERE run_id IS NULL AND ts_event >= ?"
            " AND (ts_event, alert_id) <= (?, ?)",
            (self._low, *self._last),
        ):
            self._keep(ts_event, alert_id)
        return "(ts_event, alert_id) <= (?, ?)", self._last

    def remember(self, alerts: Iterable[RiskAlert]) -> None:
        for read in alerts:
            if read.ts_event >= self._low:
                self._keep(read.ts_event, read.alert_id)

    def new_alerts(self, reader: SyncReader, limit: int) -> list[RiskAlert]:
        if self._last is None:
            found: list[RiskAlert] = []
            rows = reader.fetch(
                f"SELECT {ALERT_COLUMNS} FROM risk_alerts WHERE run_id IS NULL"
                " ORDER BY ts_event, alert_id LIMIT ?",
                (limit,),
            )
        else:
            found = self._late(reader, self._last)
            rows = reader.fetch(
                f"SELECT {ALERT_COLUMNS} FROM risk_alerts WHERE run_id IS NULL"
                " AND (ts_event, alert_id) > (?, ?) ORDER BY ts_event, alert_id LIMIT ?",
                (*self._last, limit),
            )
        for row in rows:
            self._last = (row[1], row[0])
            self._keep(row[1], row[0])
            found.append(alert(row))
        self._advance_low()
        return found

    def _late(self, reader: SyncReader, last: tuple[int, str]) -> list[RiskAlert]:
        # Alerts at or below the cursor, within the window, not read yet: counted first.
        self._advance_low()
        within = "run_id IS NULL AND ts_event >= ? AND (ts_event, alert_id) <= (?, ?)"
        bounds = (self._low, *last)
        counted = reader.one(f"SELECT count(*) FROM risk_alerts WHERE {within}", bounds)
        if counted is not None and counted[0] == len(self._seen):
            return []
        rows = reader.fetch(
            f"SELECT {ALERT_COLUMNS} FROM risk_alerts WHERE {within} ORDER BY ts_event, alert_id",
            bounds,
        )
        present = {row[0] for row in rows}
        self._seen &= present  # deleted rows: no longer counted
        late = []
        for row in rows:
            if row[0] not in self._seen:
                self._keep(row[1], row[0])
                late.append(alert(row))
        return late

    def _keep(self, ts_event: int, alert_id: str) -> None:
        if alert_id in self._seen:
            return
        self._seen.add(alert_id)
        heapq.heappush(self._by_time, (ts_event, alert_id))
        if len(self._seen) > self._max_seen:
            # Too many within the window: it starts after the oldest kept, which is forgotten.
            self._low = max(self._low, self._by_time[0][0] + 1)
            self._forget_before_low()

    def _advance_low(self) -> None:
        if self._last is None:
            return
        low = min(self._last[0], self._now_ns()) - self._window_ns
        if low > self._low:
            self._low = low
            self._forget_before_low()

    def _forget_before_low(self) -> None:
        while self._by_time and self._by_time[0][0] < self._low:
            _, alert_id = heapq.heappop(self._by_time)
            self._seen.discard(alert_id)


def _top_rowid(reader: SyncReader) -> int:
    row = reader.one("SELECT coalesce(max(rowid), 0) FROM risk_alerts")
    return 0 if row is None else row[0]


def cursor_for(reader: SyncReader, now_ns: Callable[[], int]) -> AlertCursor:
    """The cursor for ``reader``'s back end."""
    return WindowCursor(now_ns) if reader.is_postgres else RowidCursor()
