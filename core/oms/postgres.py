"""The PostgreSQL back end: connections, opening and migrating, and commit announcements.

psycopg 3 was chosen over asyncpg: on the same server and rows both ingested 28-36k rows/s in
500-row transactions (``bench/bench_oms_drivers.py``), and psycopg also has a blocking API, which
the node's notifier thread and the metrics endpoint read through without an event loop of their
own.

- ``PgConnection``: the ``OmsConnection``. It reconnects by itself: a statement that meets a
  lost server fails (the writer keeps its batch and retries), and the next use connects anew.
  SQL written with ``?`` parameters is translated to psycopg's ``%s`` once per statement.
- ``open_postgres``: checks the database before touching it (a newer schema, or another
  program's tables, is refused untouched), then migrates it in one transaction under an
  advisory lock, so two processes opening an old database at once migrate it once.
- Writers serialise on a transaction-scoped advisory lock (as SQLite's ``BEGIN IMMEDIATE``
  does), so change versions become visible in the order they are numbered; each commit sends
  ``NOTIFY trade_console_oms`` with its version, and ``ChangeListener`` hears it in any process,
  on any machine: a console far from the node sees a commit without polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg.errors

from core.database_url import redact
from core.errors import one_line
from core.oms.errors import OmsError, OmsMissingError
from core.oms.postgres_schema import CREATE_VERSION_TABLE, POSTGRES_MIGRATIONS, VERSION_TABLE
from core.oms.schema import SCHEMA_VERSION

_log = logging.getLogger(__name__)

CHANNEL = "trade_console_oms"
"""The ``LISTEN``/``NOTIFY`` channel that carries each commit's change version."""
WRITE_LOCK = 0x74726164_65434F4D  # "tradeCOM": the writers' transaction-scoped advisory lock
MIGRATE_LOCK = WRITE_LOCK + 1
CONNECT_TIMEOUT_S = 5

PG_REFUSED: tuple[type[BaseException], ...] = (
    psycopg.errors.IntegrityError,
    psycopg.errors.DataError,
    psycopg.errors.ProgrammingError,
    psycopg.errors.NotSupportedError,
)


@functools.lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """``sql`` with ``?`` parameters as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


_SERVER_SAID = re.compile(r'^connection failed: connection to server at "[^"]*", port \d+ failed: ')
_HINTS = (
    ("no password supplied", "no password: set PGPASSWORD or add the server to ~/.pgpass"),
    ("password authentication failed", "the password was refused (PGPASSWORD or ~/.pgpass)"),
    ("does not exist", "ask the server's administrator to create it (createdb)"),
    ("connection refused", "no PostgreSQL server answers there: is it running?"),
    ("timeout expired", "no PostgreSQL server answers there: is it running?"),
)


def describe_pg(error: BaseException, url: str, doing: str) -> OmsError:
    """One line for a psycopg error met while ``doing`` something with the OMS at ``url``:
    what the server said, and for the usual set-up mistakes what to do about it."""
    reason = _SERVER_SAID.sub("", one_line(error)).replace("FATAL:  ", "")
    lowered = reason.lower()
    for marker, hint in _HINTS:
        if marker in lowered:
            return OmsError(f"cannot {doing}: {reason}; {hint}", url)
    if isinstance(error, psycopg.OperationalError):
        return OmsError(f"cannot {doing}: the PostgreSQL server is unreachable ({reason})", url)
    return OmsError(f"cannot {doing}: {reason}", url)


def connection_options(
    read_only: bool, *, timeout_s: float = CONNECT_TIMEOUT_S, name: str = "trade-console"
) -> dict[str, Any]:
    """libpq's options for every OMS connection, async or blocking: autocommit (transactions
    are explicit, and none stays open between reads to hold back the server's vacuum), named
    for ``pg_stat_activity``, read-only when it only reads, and keepalives, so that a server
    that vanishes without closing (a cable, a crashed host) is noticed in about 20 s rather
    than the kernel's two hours."""
    return {
        "autocommit": True,
        "connect_timeout": max(int(timeout_s), 1),
        "application_name": name,
        "options": "-c default_transaction_read_only=on" if read_only else "",
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 2,
    }


async def connect_pg(url: str, *, read_only: bool = False) -> psycopg.AsyncConnection:
    """A new autocommit connection (transactions are explicit), named for ``pg_stat_activity``.

    Raises
    ------
    OmsError
        The server refused or did not answer (one line, the URL without a password).
    """
    try:
        return await psycopg.AsyncConnection.connect(url, **connection_options(read_only))
    except psycopg.Error as error:
        raise describe_pg(error, redact(url), "connect to the OMS database") from None


class PgConnection:
    """One PostgreSQL connection that connects again after it is lost."""

    refused = PG_REFUSED
    transient: tuple[type[BaseException], ...] = (psycopg.Error,)

    def __init__(
        self, url: str, connection: psycopg.AsyncConnection | None, *, read_only: bool = False
    ) -> None:
        self.location = redact(url)
        self._url = url
        self._read_only = read_only
        self._connection = connection

    async def _ready(self) -> psycopg.AsyncConnection:
        connection = self._connection
        if connection is None or connection.closed or connection.broken:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            self._connection = None
            connection = await connect_pg(self._url, read_only=self._read_only)
            self._connection = connection
        return connection

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        connection = await self._ready()
        cursor = await connection.execute(to_psycopg(sql), tuple(params))
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        connection = await self._ready()
        await connection.execute(to_psycopg(sql), tuple(params))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        connection = await self._ready()
        async with connection.cursor() as cursor:
            await cursor.executemany(to_psycopg(sql), rows)

    async def begin_write(self) -> None:
        connection = await self._ready()
        await connection.execute("BEGIN")
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    async def commit(self) -> None:
        await self._require().execute("COMMIT")

    async def rollback(self) -> None:
        connection = self._connection
        if connection is None or connection.closed or connection.broken:
            return
        with contextlib.suppress(psycopg.Error):
            await connection.execute("ROLLBACK")

    async def announce(self, version: int, tables: frozenset[str]) -> None:
        await self._require().execute(
            "SELECT pg_notify(%s, %s)", (CHANNEL, announcement(version, tables))
        )

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()

    def describe(self, error: BaseException, doing: str) -> OmsError:
        return describe_pg(error, self.location, doing)

    def _require(self) -> psycopg.AsyncConnection:
        if self._connection is None:
            raise psycopg.OperationalError("the connection was lost")
        return self._connection


async def open_postgres(
    url: str, *, read_only: bool, create: bool
) -> tuple[PgConnection, PgConnection | None]:
    """The reader and (unless ``read_only``) the writer of a checked, migrated PostgreSQL OMS.

    The database itself must exist (the desk's administrator creates it, as for any server
    database); its tables are created here, as SQLite's file is.

    Raises
    ------
    OmsMissingError
        ``read_only`` or not ``create``, and the database holds no OMS yet.
    OmsError
        The server cannot be reached or refuses; the database holds another program's tables,
        or a newer schema; or, with ``read_only``, an older one.
    """
    location = redact(url)
    writer_raw = None if read_only else await connect_pg(url)
    try:
        probe = writer_raw or await connect_pg(url, read_only=True)
        try:
            version = await _probe(probe, location)
        finally:
            if probe is not writer_raw:
                await probe.close()
        if version == 0 and (read_only or not create):
            raise OmsMissingError(
                "no OMS in this PostgreSQL database yet (the node or the console creates it)",
                location,
            )
        if read_only and version < SCHEMA_VERSION:
            raise OmsError(
                f"the OMS database is at schema v{version}, not v{SCHEMA_VERSION}: open it "
                "once with the console or the node to migrate it",
                location,
            )
        if writer_raw is not None and version < SCHEMA_VERSION:
            await _migrate(writer_raw, location)
        reader = PgConnection(url, await connect_pg(url, read_only=True), read_only=True)
    except BaseException:
        if writer_raw is not None:
            await writer_raw.close()
        raise
    writer = None if writer_raw is None else PgConnection(url, writer_raw)
    return reader, writer


async def _probe(connection: psycopg.AsyncConnection, location: str) -> int:
    try:
        cursor = await connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL, (SELECT count(*) FROM pg_tables"
            " WHERE schemaname = current_schema())",
            (VERSION_TABLE,),
        )
        has_version, tables = await cursor.fetchone()
        version = 0
        if has_version:
            cursor = await connection.execute(f"SELECT max(version) FROM {VERSION_TABLE}")
            version = (await cursor.fetchone())[0] or 0
    except psycopg.Error as error:
        raise describe_pg(error, location, "read the OMS database") from None
    if version > SCHEMA_VERSION:
        raise OmsError(
            f"written by a newer version of trade-console (schema v{version}; this one knows "
            f"up to v{SCHEMA_VERSION}); it was left as is: upgrade trade-console",
            location,
        )
    if version == 0 and tables > (1 if has_version else 0):
        raise OmsError(
            "not an OMS database (it has tables but no OMS schema version); it was left as "
            "is: point the OMS at another database",
            location,
        )
    return version


async def _migrate(connection: psycopg.AsyncConnection, location: str) -> None:
    version = 0
    try:
        await connection.execute("BEGIN")
        # A second process migrating the same database waits here, then finds it done.
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        await connection.execute(CREATE_VERSION_TABLE)
        cursor = await connection.execute(f"SELECT max(version) FROM {VERSION_TABLE}")
        version = (await cursor.fetchone())[0] or 0
        if version > SCHEMA_VERSION:
            raise OmsError(
                f"migrated meanwhile to a newer schema (v{version} > v{SCHEMA_VERSION})",
                location,
            )
        for step in POSTGRES_MIGRATIONS[version:]:
            for statement in step:
                await connection.execute(statement)
        await connection.execute(
            f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, %s)"
            " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (SCHEMA_VERSION,),
        )
        await connection.execute("COMMIT")
    except BaseException as error:
        with contextlib.suppress(psycopg.Error):
            await connection.execute("ROLLBACK")
        if isinstance(error, psycopg.Error):
            raise OmsError(
                f"cannot migrate from schema v{version} to v{SCHEMA_VERSION} ({one_line(error)});"
                " nothing was changed",
                location,
            ) from None
        raise


async def database_size(connection: PgConnection) -> int:
    """Bytes the OMS's database takes on the server."""
    rows = await connection.fetch("SELECT pg_database_size(current_database())")
    return int(rows[0][0])


def announcement(version: int, tables: frozenset[str] | list[str]) -> str:
    """The ``NOTIFY`` payload of a commit: its version and the tables it wrote
    (``"42 fills,orders"``), so that a watcher need not ask which."""
    return f"{version} {','.join(sorted(tables))}"


def _parse(payload: str) -> tuple[int, frozenset[str]] | None:
    version, _, tables = payload.partition(" ")
    if not version.isdigit() or not tables:
        return None  # not ours, or without its tables: the watcher asks
    return int(version), frozenset(tables.split(","))


class Subscription:
    """One watcher's view of the announcements: the commits heard since it last looked."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.heard: dict[int, frozenset[str]] = {}
        self.gap = True
        """Something may have been missed (just subscribed, reconnected, a payload without
        tables): the watcher must ask the database which tables changed."""

    def take(self, since: int) -> tuple[int, frozenset[str]] | None:
        """The changes after ``since`` from what was heard, when it is known to be all of
        them (every version from ``since + 1`` on, each commit taking the next version); None
        when the watcher must ask."""
        heard, self.heard = self.heard, {}
        gap, self.gap = self.gap, False
        if gap:
            return None
        later = sorted(v for v in heard if v > since)
        if not later or later != list(range(since + 1, later[-1] + 1)):
            return None if later else (since, frozenset())
        return later[-1], frozenset().union(*(heard[v] for v in later))


class ChangeListener:
    """Hears every OMS commit in this process, whoever made it, from ``NOTIFY``.

    Each watcher ``subscribe``s; its event is set at each announced commit, and once after
    each (re)connection, when the subscription is marked as having a gap (a commit may have
    been missed while the connection was down).
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._subscriptions: set[Subscription] = set()
        self.connected = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="oms-listen")

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def _tell(self, payload: str | None) -> None:
        parsed = None if payload is None else _parse(payload)
        for subscription in self._subscriptions:
            if parsed is None:
                subscription.gap = True
            else:
                subscription.heard[parsed[0]] = parsed[1]
            subscription.event.set()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            connection = None
            try:
                connection = await connect_pg(self._url, read_only=True)
                await connection.execute(f"LISTEN {CHANNEL}")
                self.connected = True
                delay = 0.1
                self._tell(None)
                async for notice in connection.notifies():
                    self._tell(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a lost server: listen again when it is back
                _log.warning("OMS listener: %s", one_line(error))
            finally:
                self.connected = False
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


NODE_LOCK = WRITE_LOCK + 2
"""The session-scoped advisory lock a node holds on its OMS for its whole life."""
KEEP_SECS = 1.0
"""How often a node whose lock went with the server tries to reach it again."""


class NodeLock:
    """The one-node-per-OMS guard on PostgreSQL: a session advisory lock on a connection of its
    own, across every machine that reaches the server.

    The server drops the lock when the holder's session ends, however it ends (the process
    killed, its host gone: keepalives end the session in about 20 s), so a crash never leaves
    the OMS held. A server restart drops it too: the keeper notices the lost connection,
    connects again and takes the lock back; ``problem`` says so meanwhile, and says the OMS
    was taken by another node if the lock is no longer free when the server is back.
    """

    def __init__(self, url: str, connection: psycopg.AsyncConnection) -> None:
        self._url = url
        self._connection: psycopg.AsyncConnection | None = connection
        self.problem: str | None = None
        """None while held; else why not (retaking it, or taken by another node)."""
        self.holdings = 1
        """How many times this node has taken the lock: 1, plus one per server restart."""
        self._task = asyncio.get_running_loop().create_task(self._keep(), name="oms-node-lock")

    @classmethod
    async def take(cls, url: str) -> NodeLock | None:
        """The lock, or None when another session holds it.

        Raises
        ------
        OmsError
            The server cannot be reached.
        """
        connection = await connect_pg(url)
        if await _try_lock(connection):
            return cls(url, connection)
        await connection.close()
        return None

    async def _keep(self) -> None:
        while True:
            connection = self._connection
            try:
                if connection is None or connection.closed or connection.broken:
                    raise psycopg.OperationalError("the lock's connection was lost")
                # Nothing is ever sent on this connection: the wait ends only when the server
                # ends the session (a restart, a crash), at once, or keepalives give up.
                async for _ in connection.notifies():
                    pass
                raise psycopg.OperationalError("the lock's connection was closed")
            except psycopg.Error as error:
                self.problem = f"lost with the server ({one_line(error)}); taking it back"
                _log.warning("OMS node lock: %s", self.problem)
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            self._connection = None
            while self._connection is None:
                try:
                    connection = await connect_pg(self._url)
                except OmsError:
                    await asyncio.sleep(KEEP_SECS)
                    continue
                if not await _try_lock(connection):
                    await connection.close()
                    self.problem = "taken by another node while the server was away"
                    _log.error("OMS node lock: %s", self.problem)
                    return
                self._connection = connection
                self.problem = None
                self.holdings += 1
                _log.warning("OMS node lock: taken back")

    async def release(self) -> None:
        """Let the OMS go (closing the session drops the lock)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()


async def _try_lock(connection: psycopg.AsyncConnection) -> bool:
    cursor = await connection.execute("SELECT pg_try_advisory_lock(%s)", (NODE_LOCK,))
    return bool((await cursor.fetchone())[0])
