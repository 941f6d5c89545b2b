"""``SyncReader``: a blocking, read-only connection to the OMS, on either back end.

For the readers that run in threads of their own, beside the node and off its event loop: the
notifier's watch (``core.notify``) and the metrics endpoint's scrapes (``core.monitor``). An
event loop each would be heavier than the few short reads they make, and a connection of their
own means neither ever waits on the node's writer nor holds it up (SQLite's WAL; PostgreSQL's
snapshots).

SQL is written once for both back ends, as the store's is (``core.oms.connection``): ``?``
parameters (turned into psycopg's ``%s``) and the functions both know. One exception is
bridged here: SQLite's connections get ``strpos(text, part)``, PostgreSQL's name for SQLite's
``instr``, so a query finding a substring reads the same on both.

A PostgreSQL reader connects when first used and again after the server was lost, so a thread
that keeps one for hours survives a restart of the server; every failure is one ``OmsError``
line naming the database (never its password: the URL carries none).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from core.oms.location import parse_location
from core.oms.opening import describe

_READ = "read the OMS database"


class SyncReader:
    """Blocking reads of one OMS (a file or a server); use from one thread at a time."""

    def __init__(self, location: str, *, timeout_s: float = 5.0) -> None:
        parsed = parse_location(location)
        self.backend = parsed.backend
        """``sqlite`` or ``postgresql``."""
        self.location = parsed.target if parsed.is_postgres else str(Path(location).resolve())
        """The file's absolute path or the server's URL (never with a password): for messages."""
        self._timeout_s = timeout_s
        self._connection: Any = None

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a query (``?`` parameters); its rows.

        Raises
        ------
        OmsError
            The database cannot be opened or read (locked too long, the server lost...).
        """
        if self.is_postgres:
            return self._fetch_postgres(sql, params)
        try:
            if self._connection is None:
                self._connection = _connect_sqlite(self.location, self._timeout_s)
            return self._connection.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as error:
            raise describe(error, self.location, _READ) from None

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        """The first row of a query; None when it has none."""
        rows = self.fetch(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _fetch_postgres(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        # psycopg only where PostgreSQL is used, as in the store.
        import psycopg

        from core.oms.postgres import describe_pg, to_psycopg

        try:
            connection = self._connection
            if connection is None or connection.closed or connection.broken:
                self.close()
                connection = self._connection = _connect_postgres(self.location, self._timeout_s)
            return connection.execute(to_psycopg(sql), tuple(params)).fetchall()
        except psycopg.Error as error:
            raise describe_pg(error, self.location, _READ) from None


def connect_read_only(location: str, *, timeout_s: float = 5.0) -> SyncReader:
    """A ``SyncReader`` of the OMS at ``location`` (a path or a ``postgresql://`` URL).

    ``timeout_s``: how long SQLite waits out a lock, and PostgreSQL a connection.

    Raises
    ------
    OmsError
        A PostgreSQL URL that is not usable (a password in it, no host or database).
    """
    return SyncReader(location, timeout_s=timeout_s)


def _connect_sqlite(path: str, timeout_s: float) -> sqlite3.Connection:
    # Read-only, its own: the node's writer and this reader never wait on each other (WAL).
    connection = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True, timeout=timeout_s)
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.create_function("strpos", 2, _strpos, deterministic=True)
    except BaseException:
        connection.close()
        raise
    return connection


def _strpos(text: str | None, part: str | None) -> int | None:
    if text is None or part is None:
        return None
    return text.find(part) + 1


def _connect_postgres(url: str, timeout_s: float) -> Any:
    import psycopg

    from core.oms.postgres import connection_options

    return psycopg.connect(
        url, **connection_options(True, timeout_s=timeout_s, name="trade-console-reader")
    )
