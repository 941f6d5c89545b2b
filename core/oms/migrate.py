"""Moving a desk's history from its SQLite OMS to a PostgreSQL one (``trade-console oms
migrate``), checked row for row before anything is kept.

A desk that outgrows one box keeps its past: orders and their events, fills, positions, alerts,
the audit log, runs, uploads, targets, trading states, notifications, every table of
``core.oms.schema.TABLES`` with every column but the generated ones (``is_open``,
``is_active``: the target computes them itself).

What it guarantees, in order:

- The source is a current, sound OMS (opened read-only, as ``status`` opens it: a file from a
  newer program, or not yet migrated, is refused with what to do) that no running node holds
  (the copy would miss what that node writes next).
- The target is at the current schema (opening it creates or migrates its tables) and holds no
  OMS rows: two desks' histories are never mixed.
- All or nothing: the whole copy is one transaction on the target, under the writers' lock, so
  no node commits into the target meanwhile, and nobody sees half a history.
- Checked before it is kept: each table's rows are counted and checksummed
  (``core.oms.table_digest``) as they are read from the source, then read back from the target
  inside the same transaction and checksummed the same way. Any difference rolls everything
  back. The read-back goes through the same driver, in the same text form, as the store's own
  reads, so a server that would hand the desk rounded doubles fails the check too.

The source is read in one snapshot (one read transaction), so a file another process still
writes to is copied as it stood at one instant.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import psycopg

from core.errors import one_line
from core.oms.errors import OmsError
from core.oms.location import parse_location
from core.oms.node_holder import describe_holder, holder_gone
from core.oms.opening import connect, describe
from core.oms.postgres import CHANNEL, WRITE_LOCK, announcement, connect_pg
from core.oms.schema import TABLES
from core.oms.store import OmsStore
from core.oms.table_digest import TableDigest

_CHUNK = 5_000


@dataclass(frozen=True)
class TableCopy:
    """One table copied: its rows and checksum as read from the source, and as read back."""

    table: str
    rows: int
    checksum: str
    copied_rows: int
    copied_checksum: str
    unreadable: str | None = None
    """Why the copy could not be read back whole (a value the driver cannot decode)."""

    @property
    def ok(self) -> bool:
        return (
            self.unreadable is None
            and self.rows == self.copied_rows
            and self.checksum == self.copied_checksum
        )


@dataclass(frozen=True)
class MigrationReport:
    """What was copied; kept on the target only when ``ok``."""

    source: str
    target: str
    tables: tuple[TableCopy, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(copy.ok for copy in self.tables)

    @property
    def mismatched(self) -> tuple[str, ...]:
        """The tables whose copy differs from the source."""
        return tuple(copy.table for copy in self.tables if not copy.ok)

    @property
    def rows(self) -> int:
        return sum(copy.rows for copy in self.tables)


async def migrate_to_postgres(
    source: str | Path, target: str, *, now_ns: Callable[[], int] = time.time_ns
) -> MigrationReport:
    """Copy the SQLite OMS at ``source`` into the empty PostgreSQL OMS at ``target`` (a URL
    without a password), check the copy, and keep it only if every table matches.

    Raises
    ------
    OmsError
        One line naming the file or the URL: no file; not a current, sound OMS; a node still
        holds it; the URL is not PostgreSQL's, or carries a password; the server cannot be
        reached; the target already holds OMS rows; a row the target refuses.
    """
    started = time.perf_counter()
    path = await _checked_source(source, now_ns)
    url = _checked_target(target)
    async with await OmsStore.open(url) as opened:  # creates or migrates the target's tables
        location = opened.path
    reader = await connect(path, busy_timeout_ms=5_000, read_only=True)
    writer = None
    try:
        writer = await connect_pg(url)
        tables = await _copy_all(reader, writer, path, location)
    finally:
        if writer is not None:
            await writer.close()
        await reader.close()
    return MigrationReport(path, location, tables, time.perf_counter() - started)


async def _checked_source(source: str | Path, now_ns: Callable[[], int]) -> str:
    if parse_location(str(source)).is_postgres:
        raise OmsError("the source must be a SQLite OMS file, not a PostgreSQL URL", str(source))
    path = str(Path(source).expanduser().resolve())
    if not Path(path).is_file():
        raise OmsError("no such OMS file: nothing to copy", path)
    async with await OmsStore.open(path, read_only=True) as store:
        holder = await store.node_holder()
        if holder is not None:
            gone = holder_gone(
                holder,
                await store.node_status(),
                now_ns=now_ns(),
                host=socket.gethostname(),
                pid=os.getpid(),
            )
            if gone is None:
                raise OmsError(
                    f"a running {describe_holder(holder)} holds this OMS: stop it first, or "
                    "the copy would miss what it writes next",
                    path,
                )
    return path


def _checked_target(target: str) -> str:
    location = parse_location(target)  # a password, no host, no database: refused here
    if not location.is_postgres:
        raise OmsError(
            "the target must be a PostgreSQL URL (postgresql://user@host:port/database)", target
        )
    return location.target


async def _copy_all(
    reader: aiosqlite.Connection, writer: psycopg.AsyncConnection, path: str, location: str
) -> tuple[TableCopy, ...]:
    await reader.execute("BEGIN")  # one snapshot of the source for every table
    await writer.execute("BEGIN")
    kept = False
    doing = "copy into the OMS database"
    try:
        # The writers' lock: no node commits into the target while it is filled and checked.
        await writer.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        await _refuse_rows(writer, location)
        copies = []
        for table in TABLES:
            doing = f"copy {table} into the OMS database"
            copies.append(await _copy_table(reader, writer, table, path, location))
        doing = "commit the copy"
        if all(copy.ok for copy in copies):
            await _announce(writer, [copy.table for copy in copies if copy.rows])
            await writer.execute("COMMIT")
            kept = True
        return tuple(copies)
    except psycopg.Error as error:
        problem = f"cannot {doing} ({one_line(error)}); nothing was written"
        raise OmsError(problem, location) from None
    except sqlite3.Error as error:
        raise describe(error, path, "read the OMS database") from None
    finally:
        if not kept:
            await _rollback(writer)
        await _rollback(reader)


async def _refuse_rows(writer: psycopg.AsyncConnection, location: str) -> None:
    counts = ", ".join(f"(SELECT count(*) FROM {table})" for table in TABLES)
    row = await (await writer.execute(f"SELECT {counts}")).fetchone()
    held = [f"{table}: {count:,}" for table, count in zip(TABLES, row or (), strict=True) if count]
    if held:
        raise OmsError(
            f"the target already holds OMS rows ({', '.join(held[:4])}"
            f"{', ...' if len(held) > 4 else ''}): copy into an empty database, so that two "
            "desks' histories never mix",
            location,
        )


async def _copy_table(
    reader: aiosqlite.Connection,
    writer: psycopg.AsyncConnection,
    table: str,
    path: str,
    location: str,
) -> TableCopy:
    columns = await _source_columns(reader, table)
    expected = await _target_columns(writer, table)
    if set(columns) != set(expected):
        raise OmsError(
            f"{table} has other columns in the source ({', '.join(columns)}) than in the "
            f"target ({', '.join(expected)}); nothing was written",
            location,
        )
    names = ", ".join(columns)
    read = TableDigest()
    statement = f"COPY {table} ({names}) FROM STDIN"
    async with (
        writer.cursor() as cursor,
        cursor.copy(statement) as copy,
        reader.execute(f"SELECT {names} FROM {table}") as rows,
    ):
        while chunk := await rows.fetchmany(_CHUNK):
            for row in chunk:
                read.add(row)
                await copy.write_row(row)
    back = TableDigest()
    unreadable = None
    async with writer.cursor(name=f"read_back_{table}") as cursor:
        await cursor.execute(f"SELECT {names} FROM {table}")
        try:
            while chunk := await cursor.fetchmany(_CHUNK):
                back.add_all(chunk)
        except (ValueError, OverflowError) as error:  # what the server sent does not decode
            unreadable = one_line(error)
    return TableCopy(table, read.rows, read.checksum, back.rows, back.checksum, unreadable)


async def _source_columns(reader: aiosqlite.Connection, table: str) -> list[str]:
    # table_xinfo's last field: 2 and 3 are generated columns (VIRTUAL, STORED).
    rows = await reader.execute_fetchall(f"PRAGMA table_xinfo({table})")
    return [row[1] for row in rows if row[6] not in (2, 3)]


async def _target_columns(writer: psycopg.AsyncConnection, table: str) -> list[str]:
    cursor = await writer.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = %s AND is_generated = 'NEVER'"
        " ORDER BY ordinal_position",
        (table,),
    )
    return [row[0] for row in await cursor.fetchall()]


async def _announce(writer: psycopg.AsyncConnection, tables: list[str]) -> None:
    # As a writer's commit does: the tables' change version moves on, and consoles watching
    # the target hear of it.
    if not tables:
        return
    cursor = await writer.execute("SELECT coalesce(max(version), 0) + 1 FROM table_versions")
    version = (await cursor.fetchone() or (1,))[0]
    await writer.execute(
        "UPDATE table_versions SET version = %s WHERE name = ANY(%s)", (version, tables)
    )
    await writer.execute("SELECT pg_notify(%s, %s)", (CHANNEL, announcement(version, tables)))


async def _rollback(connection: aiosqlite.Connection | psycopg.AsyncConnection) -> None:
    # No transaction open, or the connection gone: nothing to undo.
    with contextlib.suppress(sqlite3.Error, psycopg.Error, ValueError):
        await connection.execute("ROLLBACK")
