"""``SqliteConnection``: the SQLite back end's ``OmsConnection``, over aiosqlite.

SQL runs in aiosqlite's thread, so the event loop never waits on the disk. Opening, probing
and migrating the file are in ``core.oms.opening``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

from core.errors import one_line
from core.oms.errors import OmsError
from core.oms.opening import describe, rollback

SQLITE_REFUSED: tuple[type[BaseException], ...] = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.DataError,
)


class SqliteConnection:
    """An aiosqlite connection in autocommit mode (transactions are explicit)."""

    refused = SQLITE_REFUSED
    transient: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, connection: aiosqlite.Connection, path: str) -> None:
        self.raw = connection
        self.location = path

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(await self.raw.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.raw.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, rows)

    async def begin_write(self) -> None:
        # IMMEDIATE takes the write lock now: another process's writer waits (busy_timeout).
        await self.raw.execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self.raw.execute("COMMIT")

    async def rollback(self) -> None:
        await rollback(self.raw)

    async def announce(self, version: int, tables: frozenset[str]) -> None:
        """Nothing to do: readers in other processes poll ``table_versions``."""

    async def close(self) -> None:
        await self.raw.close()

    def describe(self, error: BaseException, doing: str) -> OmsError:
        if isinstance(error, sqlite3.Error):
            return describe(error, self.location, doing)
        return OmsError(f"cannot {doing}: {one_line(error)}", self.location)
