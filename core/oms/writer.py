"""The batched writer: records in from anywhere at once, out to the database a transaction at a
time.

``submit`` only appends to an in-memory queue, so a burst of Nautilus events costs the event
loop microseconds. A writer task wakes on the first record, waits up to ``interval`` for more
(or until ``batch_size`` are queued) and commits them in one transaction, whose SQL runs in
aiosqlite's thread (SQLite) or on the server (PostgreSQL): the event loop never waits on it.

Nothing submitted is dropped for being late: the queue is unbounded (``WriterStats.pending``
shows a backlog). A write that fails for a reason that may pass (a lock held too long, a full
disk, a PostgreSQL server restarting) is retried with the same records in the same order, and
since ingestion is idempotent a batch whose commit was lost in flight is written once; a
record the database refuses
outright (a NULL key, a wrong type) is set aside alone, counted in ``rejected``, and the rest of
its batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import one_line
from core.oms.connection import OmsConnection
from core.oms.errors import OmsError
from core.oms.events import Record
from core.oms.ingest import plan

_log = logging.getLogger(__name__)

# Errors that say the record is wrong whatever the database: retrying cannot succeed.
_REFUSED = (TypeError, ValueError, OverflowError)
_RETRY_FIRST = 0.05
_RETRY_MAX = 2.0
_CLOSING_ATTEMPTS = 3


@dataclass(frozen=True)
class Commit:
    """One committed transaction, as told to listeners."""

    version: int
    """The database's change version after this commit (see ``OmsStore.changes_since``)."""
    tables: frozenset[str]
    records: int
    """Records this transaction settled (written, or ignored as already there)."""
    committed: int
    """Records settled since the store was opened, this transaction's included."""
    rejected: int = 0


@dataclass
class WriterStats:
    """Counters for the Health pane and the benchmark."""

    submitted: int = 0
    committed: int = 0
    rejected: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str | None = None
    last_commit_ns: int | None = None
    commit_seconds: float = 0.0
    """Time spent inside transactions (in the database thread), summed."""

    @property
    def pending(self) -> int:
        return self.submitted - self.committed


Listener = Callable[[Commit], None]


class BatchWriter:
    """Owns the writing connection; see the module docstring."""

    def __init__(
        self,
        connection: OmsConnection,
        path: str,
        *,
        interval: float,
        batch_size: int,
    ) -> None:
        if interval < 0 or batch_size <= 0:
            raise ValueError(f"interval {interval} must be >= 0, batch_size {batch_size} > 0")
        self._connection = connection
        self._refused = (*connection.refused, *_REFUSED)
        self._path = path
        self._interval = interval
        self._batch_size = batch_size
        self._queue: deque[Record] = deque()
        self._lock = threading.Lock()  # submit may come from a Nautilus or worker thread
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._urgent = False  # a flush or close is waiting: skip the batching delay
        self._closing = False
        self._waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._listeners: list[Listener] = []
        self._version = 0
        self.stats = WriterStats()
        self._task = self._loop.create_task(self._run(), name=f"oms-writer {path}")

    def submit(self, record: Record) -> None:
        """Queue ``record`` for the next transaction; never blocks, safe from any thread."""
        if self._closing:
            raise OmsError("the OMS store is closed; the record was not queued", self._path)
        with self._lock:
            self._queue.append(record)
            self.stats.submitted += 1
            queued = len(self._queue)
        if queued == 1 or queued == self._batch_size:
            self._signal()

    def _signal(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def flush(self) -> int:
        """Wait until everything submitted so far is committed; return the change version.

        Raises
        ------
        OmsError
            A transaction failed meanwhile; its records stay queued and are retried.
        """
        target = self.stats.submitted
        if self.stats.committed >= target:
            return self._version
        future: asyncio.Future[int] = self._loop.create_future()
        self._waiters.append((target, future))
        self._urgent = True
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Write what is queued, then stop (a failing disk gets a few more attempts)."""
        if self._closing:
            await asyncio.shield(self._task)
            return
        self._closing = True
        self._urgent = True
        self._wake.set()
        await asyncio.shield(self._task)
        if self.stats.pending:
            raise OmsError(
                f"closed with {self.stats.pending} records unwritten ({self.stats.last_error})",
                self._path,
            )

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on the event loop after each commit; returns the unsubscriber."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def _run(self) -> None:
        delay = _RETRY_FIRST
        attempts = 0
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._gather()
            with self._lock:
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._batch_size))
                ]
            try:
                await self._write(batch)
            except Exception as error:  # the writer must outlive any one failure
                with self._lock:
                    self._queue.extendleft(reversed(batch))
                self._fail(error)
                attempts += 1
                if self._closing and attempts >= _CLOSING_ATTEMPTS:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            delay = _RETRY_FIRST
            attempts = 0

    async def _gather(self) -> None:
        # Give a burst up to `interval` to fill a batch: one transaction for many records.
        deadline = self._loop.time() + self._interval
        while not self._urgent and len(self._queue) < self._batch_size:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    async def _write(self, batch: list[Record]) -> None:
        started = time.perf_counter()
        try:
            version, tables = await self._transaction(batch)
            rejected = 0
        except self._refused as error:
            _log.warning(
                "OMS %s: a batch was refused (%s); writing its records one by one",
                self._path,
                one_line(error),
            )
            version, tables, rejected = await self._transaction_one_by_one(batch)
        self.stats.commit_seconds += time.perf_counter() - started
        self.stats.committed += len(batch)
        self.stats.rejected += rejected
        self.stats.batches += 1
        self.stats.last_commit_ns = time.time_ns()
        if rejected == 0:
            self.stats.last_error = None
        self._version = version
        commit = Commit(version, tables, len(batch), self.stats.committed, rejected)
        self._settle()
        for listener in list(self._listeners):
            try:
                listener(commit)
            except Exception:  # a pane's bug must not stop the writer
                _log.exception("OMS listener %r failed", listener)

    async def _transaction(self, batch: list[Record]) -> tuple[int, frozenset[str]]:
        connection = self._connection
        steps = plan(batch)
        await connection.begin_write()
        try:
            for step in steps:
                await connection.executemany(step.sql, step.rows)
            tables = frozenset(step.table for step in steps)
            version = await self._bump(tables)
            await connection.commit()
        except BaseException:
            await connection.rollback()
            raise
        return version, tables

    async def _transaction_one_by_one(self, batch: list[Record]) -> tuple[int, frozenset[str], int]:
        connection = self._connection
        tables: set[str] = set()
        rejected = 0
        await connection.begin_write()
        try:
            for record in batch:
                await connection.execute("SAVEPOINT record")
                try:
                    steps = plan([record])
                    for step in steps:
                        await connection.executemany(step.sql, step.rows)
                except self._refused as error:
                    await connection.execute("ROLLBACK TO SAVEPOINT record")
                    rejected += 1
                    self.stats.last_error = f"refused {type(record).__name__}: {one_line(error)}"
                    _log.error("OMS %s: %s", self._path, self.stats.last_error)
                else:
                    tables.update(step.table for step in steps)
                await connection.execute("RELEASE SAVEPOINT record")
            version = await self._bump(frozenset(tables))
            await connection.commit()
        except BaseException:
            await connection.rollback()
            raise
        return version, frozenset(tables), rejected

    async def _bump(self, tables: frozenset[str]) -> int:
        # Inside the transaction, which holds the write lock: no other process can take the
        # same version number.
        rows = await self._connection.fetch("SELECT max(version) FROM table_versions")
        version = (rows[0][0] or 0) + 1
        if tables:
            marks = ", ".join("?" for _ in tables)
            await self._connection.execute(
                f"UPDATE table_versions SET version = ? WHERE name IN ({marks})",
                (version, *sorted(tables)),
            )
            await self._connection.announce(version, tables)
        return version

    def _settle(self) -> None:
        done = self.stats.committed
        waiting = []
        for target, future in self._waiters:
            if target <= done:
                if not future.done():
                    future.set_result(self._version)
            else:
                waiting.append((target, future))
        self._waiters = waiting
        self._urgent = bool(waiting) or self._closing

    def _fail(self, error: Exception) -> None:
        self.stats.failures += 1
        if isinstance(error, OmsError):  # already one line naming the OMS (a lost server)
            failure = error
        elif isinstance(error, self._connection.transient):
            failure = self._connection.describe(error, "write to the OMS database")
        else:
            failure = OmsError(f"cannot write to the OMS database: {one_line(error)}", self._path)
        self.stats.last_error = str(failure)
        _log.error("%s (%d records kept, retrying)", failure, self.stats.pending)
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(
                    OmsError(
                        f"{failure.problem}; {self.stats.pending} records kept and retried",
                        self._path,
                    )
                )
        self._waiters = []
