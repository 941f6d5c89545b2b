"""``OmsStore``: the order-management store the node writes and the panes read.

Two back ends behind one interface (``core.oms.location``): a local SQLite file, the default,
and a PostgreSQL server, for a desk whose node and consoles run on different machines.

SQLite: one file, in WAL mode, shared by processes: the node (or a backtest) writes through
``submit``; any number of consoles, a second one over SSH included, open the same file and read.
In WAL mode readers never block the writer nor the writer readers, and every read sees a
committed state; writers from several processes (an operator's audit entry from a second
console) queue on SQLite's lock, waiting up to ``busy_timeout_ms``.

PostgreSQL: the same tables, migrations and idempotent ingestion (``core.oms.postgres``).
Writers queue on an advisory lock; each commit is announced with ``NOTIFY``, so ``watch`` in a
console on another machine wakes when the node commits, without polling.

Durability: a commit is durable before ``flush`` returns or a listener hears of it. SQLite
(``synchronous=NORMAL`` in WAL mode) survives the process being killed (``kill -9``) at any
instant; an operating-system crash or power loss may lose the last commits, never the file's
consistency. PostgreSQL (``synchronous_commit`` on, its default) survives both.

Panes learn what changed in two cheap ways: in the writing process, ``add_listener`` hears of
each commit; in any process, ``changes_since(version)`` (or ``watch``) compares a per-table
commit counter, one small indexed read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import msgspec

from core.oms.connection import OmsConnection
from core.oms.errors import OmsError, OmsMissingError
from core.oms.events import (
    AuditEntry,
    BalanceSnapshot,
    DriftObservation,
    Fill,
    NodeHolder,
    NodeStatus,
    OrderEvent,
    PositionSnapshot,
    Record,
    RiskAlert,
    RoutedOrder,
    RunState,
    TargetsRecord,
    TradingStateRecord,
    UploadState,
)
from core.oms.ingest import decode, is_record, select_columns
from core.oms.location import parse_location
from core.oms.notification_record import Notification
from core.oms.opening import (
    connect,
    database_exists,
    ensure_folder,
    local_path,
    prepare,
    probe,
)
from core.oms.pnl_record import PnlSnapshot
from core.oms.schema import SCHEMA_VERSION, TABLES
from core.oms.sqlite_connection import SqliteConnection
from core.oms.writer import BatchWriter, Commit, WriterStats
from core.storage.roots import resolve

DEFAULT_DATABASE = "artifacts/oms.sqlite"
"""Where the OMS lives when the config does not say: under ``artifacts/`` of the working folder."""


@dataclass(frozen=True)
class Changes:
    """What changed after a version: the tables touched, and the version to ask from next."""

    version: int
    tables: frozenset[str]


class OmsStore:
    """Open with ``await OmsStore.open(path)``; close with ``await store.close()`` (or
    ``async with``). Every method must be called on the event loop that opened the store,
    except ``submit``, which is safe from any thread.
    """

    def __init__(
        self,
        path: str,
        reader: OmsConnection,
        writer: BatchWriter | None,
        writer_connection: OmsConnection | None,
        *,
        backend: str = "sqlite",
        url: str | None = None,
    ) -> None:
        self.path = path
        """The database file's absolute path, or the PostgreSQL URL (never with a password)."""
        self.backend = backend
        """``sqlite`` or ``postgresql``."""
        self._url = url
        self._reader = reader
        self._writer = writer
        self._writer_connection = writer_connection
        self._listener: Any = None  # PostgreSQL's ChangeListener, started by the first watch
        self._size: tuple[float, int] | None = None  # PostgreSQL's database size, and when
        self._closed = False

    @property
    def url(self) -> str | None:
        """The PostgreSQL URL this store connects with (never a password); None for SQLite."""
        return self._url

    @property
    def is_postgres(self) -> bool:
        """Whether this OMS is on a PostgreSQL server (else a local SQLite file)."""
        return self.backend == "postgresql"

    @classmethod
    async def open(
        cls,
        path: str | Path = DEFAULT_DATABASE,
        *,
        read_only: bool = False,
        create: bool = True,
        batch_interval: float = 0.01,
        batch_size: int = 500,
        busy_timeout_ms: int = 5_000,
        check_integrity: bool = True,
    ) -> Self:
        """Open (creating or migrating it if needed) the OMS database at ``path``: a local
        file's path, or a ``postgresql://`` URL (see ``core.oms.location``).

        ``read_only`` opens an existing, current database without ever writing to it (for
        ``trade-console status``). ``create=False`` opens an existing database only (migrating
        it if needed) and creates neither file nor folder: for a command whose effect would be
        lost on a new, empty OMS (``trade-console kill`` from the wrong folder).
        ``check_integrity`` runs SQLite's ``quick_check`` first, so that a damaged file is
        reported now rather than at some later read.

        Raises
        ------
        OmsMissingError
            With ``read_only`` or ``create=False``: there is no database file at ``path``.
        OmsError
            One line naming the file: remote URL, folder that cannot be created or written,
            file that is not a (readable, OMS) database, schema from a newer version; or, with
            ``read_only``, a database not yet migrated.
        """
        location = parse_location(str(path))
        if location.is_postgres:
            return await cls._open_postgres(
                location.target,
                read_only=read_only,
                create=create,
                batch_interval=batch_interval,
                batch_size=batch_size,
            )
        local = local_path(path)
        exists = database_exists(local)
        if not exists and (read_only or not create):
            raise OmsMissingError(
                "no OMS database here yet (the node or the console creates it)", local
            )
        if not read_only:
            ensure_folder(local)
        version = await probe(local, busy_timeout_ms, check_integrity) if exists else 0
        if read_only and version < SCHEMA_VERSION:
            raise OmsError(
                f"the OMS database is at schema v{version}, not v{SCHEMA_VERSION}: open it "
                "once with the console or the node to migrate it",
                local,
            )
        writer_raw = None
        if not read_only:
            writer_raw = await connect(local, busy_timeout_ms, read_only=False)
            try:
                await prepare(writer_raw, local)
            except BaseException:
                await writer_raw.close()
                raise
        try:
            reader_raw = await connect(local, busy_timeout_ms, read_only=read_only)
            if not read_only:
                await reader_raw.execute("PRAGMA query_only = 1")
        except BaseException:
            if writer_raw is not None:
                await writer_raw.close()
            raise
        reader = SqliteConnection(reader_raw, local)
        writer_connection = None if writer_raw is None else SqliteConnection(writer_raw, local)
        return cls._assemble(local, reader, writer_connection, batch_interval, batch_size)

    @classmethod
    async def _open_postgres(
        cls,
        url: str,
        *,
        read_only: bool,
        create: bool,
        batch_interval: float,
        batch_size: int,
    ) -> Self:
        from core.oms.postgres import open_postgres  # psycopg only where PostgreSQL is used

        reader, writer_connection = await open_postgres(url, read_only=read_only, create=create)
        return cls._assemble(
            reader.location,
            reader,
            writer_connection,
            batch_interval,
            batch_size,
            backend="postgresql",
            url=url,
        )

    @classmethod
    def _assemble(
        cls,
        path: str,
        reader: OmsConnection,
        writer_connection: OmsConnection | None,
        batch_interval: float,
        batch_size: int,
        **options: Any,
    ) -> Self:
        writer = None
        if writer_connection is not None:
            writer = BatchWriter(
                writer_connection, path, interval=batch_interval, batch_size=batch_size
            )
        return cls(path, reader, writer, writer_connection, **options)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Write everything queued, then close both connections.

        Raises
        ------
        OmsError
            Some records could not be written (the disk kept refusing).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._writer is not None:
                await self._writer.close()
        finally:
            if self._listener is not None:
                await self._listener.close()
            if self._writer_connection is not None:
                await self._writer_connection.close()
            await self._reader.close()

    # -- writing ------------------------------------------------------------------------------

    def submit(self, record: Record) -> None:
        """Queue ``record`` to be written with the next batch; returns at once.

        Safe to call from the event loop, from a Nautilus handler or from another thread. The
        record is durable once ``flush`` returns or a listener hears of its commit.
        """
        if not is_record(record):
            raise TypeError(f"not an OMS record: {type(record).__name__}")
        self._writing().submit(record)

    def submit_many(self, records: Sequence[Record]) -> None:
        """``submit`` each of ``records``."""
        for record in records:
            self.submit(record)

    async def flush(self) -> int:
        """Wait until every record submitted so far is committed; return the change version."""
        return await self._writing().flush()

    def add_listener(self, listener: Callable[[Commit], None]) -> Callable[[], None]:
        """Call ``listener`` on the event loop after each commit; returns the unsubscriber."""
        return self._writing().add_listener(listener)

    @property
    def stats(self) -> WriterStats:
        """The writer's counters (all zero on a read-only store)."""
        return WriterStats() if self._writer is None else self._writer.stats

    def _writing(self) -> BatchWriter:
        if self._writer is None:
            raise OmsError("the OMS store was opened read-only", self.path)
        return self._writer

    # -- change tracking ----------------------------------------------------------------------

    async def version(self) -> int:
        """The change version: it grows by at least one with each commit, from any process."""
        rows = await self._fetch("SELECT max(version) FROM table_versions")
        return rows[0][0] or 0

    async def changes_since(self, version: int) -> Changes:
        """The tables committed to after ``version``, and the version now."""
        rows = await self._fetch(
            "SELECT name, version FROM table_versions WHERE version > ?", (version,)
        )
        latest = max((row[1] for row in rows), default=version)
        return Changes(latest, frozenset(row[0] for row in rows))

    async def watch(
        self, since: int | None = None, interval: float = 0.1
    ) -> AsyncIterator[Changes]:
        """Yield ``Changes`` whenever tables change, from this process or another.

        Commits of this store's own writer are seen at once. Those of other processes: on
        SQLite within ``interval`` seconds (a poll of one small table); on PostgreSQL as soon
        as the server announces them (``NOTIFY``), with ``interval`` only a safety net while
        the announcing connection is down. Changes that come while the consumer is busy merge
        into one.
        """
        last = await self.version() if since is None else since
        nudged = asyncio.Event()
        remove = self.add_listener(lambda _: nudged.set()) if self._writer is not None else None
        listener = self._announcements()
        heard = None if listener is None else listener.subscribe()
        try:
            while True:
                # Cleared before the check: a commit announced after it wakes the wait below.
                nudged.clear()
                if heard is None:
                    changes = await self.changes_since(last)
                else:
                    heard.event.clear()
                    # The announcements name each commit's tables: while none was missed,
                    # what changed is known without asking the server.
                    known = heard.take(last) if listener.connected else None
                    changes = (
                        Changes(*known) if known is not None else await self.changes_since(last)
                    )
                if changes.tables:
                    last = changes.version
                    yield changes
                    continue
                if heard is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(nudged.wait(), interval)
                else:
                    # Connected, only a safety net; while reconnecting, the poll's interval
                    # (the listener wakes this as soon as it is back).
                    safety = _ANNOUNCED_SAFETY_SECS if listener.connected else interval
                    await _first(nudged, heard.event, safety)
                    if nudged.is_set() or not heard.event.is_set():
                        # This process's commit (ask, do not wait for its announcement), or
                        # the safety net's time: ask the server once.
                        heard.gap = True
        finally:
            if remove is not None:
                remove()
            if heard is not None:
                listener.unsubscribe(heard)

    def _announcements(self) -> Any:
        # PostgreSQL's commit announcements, heard on one connection per store.
        if not self.is_postgres or self._url is None:
            return None
        if self._listener is None:
            from core.oms.postgres import ChangeListener

            self._listener = ChangeListener(self._url)
        return self._listener

    # -- reading ------------------------------------------------------------------------------

    async def orders(self, limit: int = 200) -> list[OrderEvent]:
        """Orders as they stand now: open ones first, then the rest, each newest first."""
        return await self._select(
            OrderEvent, "FROM orders ORDER BY is_open DESC, ts_event DESC LIMIT ?", (limit,)
        )

    async def node_open_orders(self) -> list[OrderEvent]:
        """The node's open orders (not a backtest's), oldest first: what a node settles at start
        when an earlier session left them (``core.live.orphans``)."""
        return await self._select(
            OrderEvent, "FROM orders WHERE is_open = 1 AND run_id IS NULL ORDER BY ts_event"
        )

    async def order_history(self, client_order_id: str) -> list[OrderEvent]:
        """Every event of one order, in the order they happened."""
        return await self._select(
            OrderEvent,
            "FROM order_events WHERE client_order_id = ? ORDER BY sequence",
            (client_order_id,),
        )

    async def positions(self) -> list[PositionSnapshot]:
        """Every position as it stands now: open ones first, then by instrument."""
        return await self._select(
            PositionSnapshot, "FROM positions ORDER BY side = 'FLAT', instrument_id, position_id"
        )

    async def position_timeline(
        self, position_id: str | None = None, limit: int = 200
    ) -> list[PositionSnapshot]:
        """The latest ``limit`` snapshots (of one position, or of all), newest first."""
        if position_id is None:
            return await self._select(
                PositionSnapshot,
                "FROM position_events ORDER BY ts_event DESC, sequence DESC LIMIT ?",
                (limit,),
            )
        return await self._select(
            PositionSnapshot,
            "FROM position_events WHERE position_id = ? ORDER BY ts_event DESC, sequence DESC "
            "LIMIT ?",
            (position_id, limit),
        )

    async def fills(self, limit: int = 200, client_order_id: str | None = None) -> list[Fill]:
        """The latest ``limit`` fills (of one order, or of all), newest first."""
        if client_order_id is None:
            return await self._select(Fill, "FROM fills ORDER BY ts_event DESC LIMIT ?", (limit,))
        return await self._select(
            Fill,
            "FROM fills WHERE client_order_id = ? ORDER BY ts_event DESC LIMIT ?",
            (client_order_id, limit),
        )

    async def balances(self) -> list[BalanceSnapshot]:
        """Every account's balance in every currency, as they stand now."""
        return await self._select(BalanceSnapshot, "FROM balances ORDER BY account_id, currency")

    async def drift(self, limit: int = 200) -> list[DriftObservation]:
        """The latest ``limit`` drift observations, newest first."""
        return await self._select(
            DriftObservation, "FROM drift_observations ORDER BY ts_event DESC LIMIT ?", (limit,)
        )

    async def alerts(self, limit: int = 100) -> list[RiskAlert]:
        """The latest ``limit`` risk alerts, newest first."""
        return await self._select(
            RiskAlert, "FROM risk_alerts ORDER BY ts_event DESC LIMIT ?", (limit,)
        )

    async def notifications(self, limit: int = 100) -> list[Notification]:
        """The latest ``limit`` messages sent (or failed) to the desk's channels, newest first."""
        return await self._select(
            Notification, "FROM notifications ORDER BY ts_event DESC LIMIT ?", (limit,)
        )

    async def routes(self, client_order_ids: Sequence[str]) -> dict[str, RoutedOrder]:
        """The router's decision for each of ``client_order_ids`` that has one (orders sent
        with routing off have none)."""
        found: dict[str, RoutedOrder] = {}
        ids = list(client_order_ids)
        for start in range(0, len(ids), 500):  # SQLite caps the number of parameters
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = await self._select(
                RoutedOrder, f"FROM route_decisions WHERE client_order_id IN ({marks})", chunk
            )
            found.update((row.client_order_id, row) for row in rows)
        return found

    async def route_decisions(self, limit: int = 200) -> list[RoutedOrder]:
        """The latest ``limit`` routed orders, newest first."""
        return await self._select(
            RoutedOrder, "FROM route_decisions ORDER BY ts_event DESC LIMIT ?", (limit,)
        )

    async def uploads(self, limit: int = 200) -> list[UploadState]:
        """Uploads not done first (queued, uploading, failed), then done ones, newest first."""
        return await self._select(
            UploadState, "FROM uploads ORDER BY is_active DESC, updated_at DESC LIMIT ?", (limit,)
        )

    async def uploads_in_folder(self, name: str) -> list[UploadState]:
        """The upload rows whose destination (else file) sits in a folder called ``name``: one
        run's files, since a run uploads into a folder named for it. Filtered in SQLite, so a
        run's detail view does not decode the whole queue."""
        return await self._select(
            UploadState,
            "FROM (SELECT *, '/' || rtrim(coalesce(nullif(destination, ''), file),"
            " replace(coalesce(nullif(destination, ''), file), '/', '')) AS folder FROM uploads)"
            " AS listed"
            " WHERE substr(folder, length(folder) - length(CAST(? AS TEXT)) - 1)"
            " = '/' || CAST(? AS TEXT) || '/' ORDER BY updated_at DESC",
            (name, name),
        )

    async def upload_folders(self) -> dict[str, dict[str, int]]:
        """Upload rows counted per folder and state: ``{folder: {state: rows}}``.

        The folder is the destination's (else the local file's), without its trailing ``/``.
        The run list needs only these counts, once per run: decoding every row instead cost the
        console's loop ~60 ms at 7,000 rows, each time an upload moved on. Grouped in SQLite
        (``rtrim(path, path-without-slashes)`` strips the file name), a thousand runs' rows come
        back as a thousand or so tuples.
        """
        rows = await self._fetch(
            "SELECT rtrim(path, replace(path, '/', '')) AS folder, state, count(*)"
            " FROM (SELECT coalesce(nullif(destination, ''), file) AS path, state FROM uploads)"
            " AS listed GROUP BY folder, state"
        )
        folders: dict[str, dict[str, int]] = {}
        for folder, state, count in rows:
            states = folders.setdefault(folder.rstrip("/"), {})  # "a//x" and "a/x": one "a"
            states[state] = states.get(state, 0) + count
        return folders

    async def runs(self, limit: int = 50) -> list[RunState]:
        """The latest ``limit`` backtest runs, most recently updated first."""
        return await self._select(RunState, "FROM runs ORDER BY updated_at DESC LIMIT ?", (limit,))

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The latest ``limit`` operator actions, newest first."""
        return await self._select(AuditEntry, "FROM audit_log ORDER BY ts DESC LIMIT ?", (limit,))

    async def node_status(self) -> NodeStatus | None:
        """The node's latest heartbeat; None when no node ever wrote one to this database.

        The row outlives the node: compare its ``ts_event`` with the clock to know whether a
        node still runs (``core.oms.health.collect_health`` does).
        """
        rows = await self._select(NodeStatus, "FROM node_status")
        return rows[0] if rows else None

    async def pnl(self) -> PnlSnapshot | None:
        """The node's latest marks and PnL (``core.oms.pnl_record``); None before a node's
        first mark. The row outlives the node (its ``ts_event`` says when), until the next
        node starts."""
        rows = await self._select(PnlSnapshot, "FROM pnl")
        return rows[0] if rows else None

    async def node_holder(self) -> NodeHolder | None:
        """The node that holds this OMS (``core.live.lease``); None when none does.

        A node that died leaves its row: judge it with ``core.oms.node_holder.holder_gone``.
        """
        rows = await self._select(NodeHolder, "FROM node_holder")
        return rows[0] if rows else None

    async def trading_state(self) -> TradingStateRecord | None:
        """The trading state in force (the latest change); None when never set, i.e. ACTIVE."""
        rows = await self._select(
            TradingStateRecord, "FROM trading_state ORDER BY ts_event DESC LIMIT 1"
        )
        return rows[0] if rows else None

    async def trading_state_history(self, limit: int = 50) -> list[TradingStateRecord]:
        """The latest ``limit`` changes of the trading state, newest first."""
        return await self._select(
            TradingStateRecord, "FROM trading_state ORDER BY ts_event DESC LIMIT ?", (limit,)
        )

    async def targets_history(self, limit: int = 50) -> list[TargetsRecord]:
        """The latest ``limit`` changes of the node's targets in force, newest first."""
        return await self._select(
            TargetsRecord,
            "FROM targets ORDER BY ts_event DESC, operation_id DESC LIMIT ?",
            (limit,),
        )

    async def schema_version(self) -> int:
        """The database's schema version (SQLite's ``PRAGMA user_version``; PostgreSQL's
        ``oms_schema`` table)."""
        if self.is_postgres:
            rows = await self._fetch("SELECT max(version) FROM oms_schema")
        else:
            rows = await self._fetch("PRAGMA user_version")
        return rows[0][0]

    async def size_bytes(self) -> int:
        """Bytes on disk: the SQLite file and its write-ahead log (which holds the latest
        commits until a checkpoint copies them into the file), or the PostgreSQL database."""
        if self.is_postgres:
            # The Health pane asks every second; the server computes it from every relation's
            # files (23 ms under load): once every _SIZE_TTL_SECS is plenty for a figure that
            # grows by kilobytes.
            now = time.monotonic()
            if self._size is None or now - self._size[0] > _SIZE_TTL_SECS:
                from core.oms.postgres import database_size

                self._size = (now, await database_size(self._reader))  # type: ignore[arg-type]
            return self._size[1]
        fs, path = resolve(self.path)
        total = 0
        for name in (path, f"{path}-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += fs.size(name)
        return total

    async def counts(self) -> dict[str, int]:
        """Rows per table, plus ``open_orders``, ``open_positions``, ``active_uploads`` (not
        done: queued, uploading or failed) and ``failed_uploads``."""
        parts = [f"(SELECT count(*) FROM {table})" for table in TABLES]
        parts += [
            "(SELECT count(*) FROM orders WHERE is_open = 1)",
            "(SELECT count(*) FROM positions WHERE side <> 'FLAT')",
            "(SELECT count(*) FROM uploads WHERE is_active = 1)",
            "(SELECT count(*) FROM uploads WHERE state = 'failed')",
        ]
        rows = await self._fetch("SELECT " + ", ".join(parts))
        names = (*TABLES, "open_orders", "open_positions", "active_uploads", "failed_uploads")
        return dict(zip(names, rows[0], strict=True))

    async def upload_counts(self) -> dict[str, int]:
        """``uploads``, ``active_uploads`` and ``failed_uploads`` alone: what the Health pane
        asks every second, without counting the trading tables, which grow all day."""
        rows = await self._fetch(
            "SELECT count(*), count(CASE WHEN is_active = 1 THEN 1 END),"
            " count(CASE WHEN state = 'failed' THEN 1 END) FROM uploads"
        )
        return dict(zip(("uploads", "active_uploads", "failed_uploads"), rows[0], strict=True))

    async def integrity_check(self) -> list[str]:
        """SQLite's full ``integrity_check``: ``["ok"]`` for a sound file, else the problems.
        PostgreSQL checks its own pages (checksums, WAL): ``["ok"]`` once it answers."""
        if self.is_postgres:
            await self._fetch("SELECT 1")
            return ["ok"]
        rows = await self._fetch("PRAGMA integrity_check")
        return [row[0] for row in rows]

    async def _select[T: msgspec.Struct](
        self, record_type: type[T], tail: str, params: Sequence[Any] = ()
    ) -> list[T]:
        rows = await self._fetch(f"SELECT {select_columns(record_type)} {tail}", params)
        return [decode(record_type, row) for row in rows]

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return await self._reader.fetch(sql, params)
        except self._reader.transient as error:
            raise self._reader.describe(error, "read the OMS database") from None


_SIZE_TTL_SECS = 30.0
_ANNOUNCED_SAFETY_SECS = 5.0
"""On PostgreSQL, how long ``watch`` waits for an announcement before it checks anyway."""


async def _first(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    # Until either event is set, or ``timeout``.
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
