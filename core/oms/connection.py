"""``OmsConnection``: what the store and its writer need of a database connection.

Two back ends implement it: SQLite (``core.oms.sqlite_connection``) and PostgreSQL
(``core.oms.postgres``). The SQL is written once, with ``?`` parameters and the syntax both
understand (``ON CONFLICT ... DO UPDATE ... WHERE``, row comparisons, ``CAST``); a back end
translates only what it must (PostgreSQL's ``%s`` parameters). What differs in kind lives
behind these methods: how a writing transaction takes the write lock (SQLite's ``BEGIN
IMMEDIATE``; PostgreSQL's transaction-scoped advisory lock), how a commit is announced to
other processes (SQLite: not at all, readers poll a counter; PostgreSQL: ``NOTIFY``), and which
errors mean "this record is wrong" rather than "not now".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from core.oms.errors import OmsError


class OmsConnection(Protocol):
    """One connection to the OMS database, used from the event loop that opened it."""

    location: str
    """The file's path or the server's URL (no password): for messages."""
    refused: tuple[type[BaseException], ...]
    """Errors that say a record is wrong, not the moment: retrying the same row cannot help."""
    transient: tuple[type[BaseException], ...]
    """The back end's own errors (a lock held, a lost server): the writer keeps the batch and
    tries again."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a query; its rows."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row."""
        ...

    async def begin_write(self) -> None:
        """Open a transaction that holds the database's write lock until it ends, so that
        commits from several processes are numbered in the order they become visible."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None:
        """End the open transaction, if the database has not already ended it."""
        ...

    async def announce(self, version: int, tables: frozenset[str]) -> None:
        """Inside a writing transaction: tell other processes, on commit, that ``version``
        was committed and which ``tables`` it wrote (a no-op where they poll)."""
        ...

    async def close(self) -> None: ...

    def describe(self, error: BaseException, doing: str) -> OmsError:
        """One line for ``error``, met while ``doing`` something with the database."""
        ...
