"""Opening the OMS database safely: check it before touching it, then migrate it.

Order matters. An existing file is first probed through a read-only connection: a file that is
not a database, a damaged one, a database of another program or of a newer schema version is
refused there, and since a read-only connection cannot write, such a file is left exactly as it
was. Only then is it opened for writing, switched to WAL and migrated in one transaction.

The database must be a local file: SQLite's locking needs a local filesystem, so a ``gs://``
URL is refused (uploads copy finished files to GCS instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import aiosqlite

from core.errors import one_line
from core.oms.errors import OmsError
from core.oms.schema import MIGRATIONS, SCHEMA_VERSION
from core.storage.roots import is_remote, resolve

WAL_SWITCH_ATTEMPTS = 1
_CORRUPT = "not a readable OMS database ({reason}); it was left as is: move it aside to start anew"


def local_path(url: str | Path) -> str:
    """The absolute local path of the database named by ``url``."""
    text = str(url)
    if is_remote(text):
        raise OmsError("the OMS database must be a local file, not a remote URL", text)
    _, path = resolve(text)
    return path


def ensure_folder(path: str) -> None:
    """Create the database's folder if it is missing."""
    fs, folder = resolve(str(Path(path).parent))
    try:
        fs.makedirs(folder, exist_ok=True)
    except OSError as error:
        reason = error.strerror or one_line(error)
        raise OmsError(f"cannot create the OMS database folder {folder} ({reason})", path) from None
    if not fs.isdir(folder):
        raise OmsError(f"the OMS database folder {folder} is not a folder", path)


def database_exists(path: str) -> bool:
    """Whether a database file is at ``path`` (a folder there is an error, not "no file")."""
    fs, local = resolve(path)
    if fs.isdir(local):
        raise OmsError("a folder is where the OMS database file should be", path)
    return fs.exists(local)


def describe(error: sqlite3.Error, path: str, doing: str) -> OmsError:
    """One line for a sqlite3 error met while ``doing`` something with the database."""
    reason = one_line(error)
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError):
        return OmsError(_CORRUPT.format(reason=reason), path)
    if "unable to open" in reason or "readonly" in reason:
        folder = str(Path(path).parent)
        return OmsError(f"cannot {doing}: {reason} (is {folder} writable?)", path)
    if "locked" in reason or "busy" in reason:
        return OmsError(f"cannot {doing}: another process holds it locked ({reason})", path)
    return OmsError(f"cannot {doing}: {reason}", path)


async def connect(path: str, busy_timeout_ms: int, read_only: bool) -> aiosqlite.Connection:
    """A connection in autocommit mode (transactions are explicit), waiting out locks."""
    target = f"{Path(path).as_uri()}?mode=ro" if read_only else f"{Path(path).as_uri()}?mode=rwc"
    try:
        # Tried first with plain sqlite3 in a thread: a failed aiosqlite.connect leaves its
        # worker thread to report to a loop that may be gone by then.
        await asyncio.to_thread(_try_open, target)
        connection = await aiosqlite.connect(target, uri=True, isolation_level=None)
    except sqlite3.Error as error:
        raise describe(error, path, "open the OMS database") from None
    try:
        await connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    except sqlite3.Error as error:
        await connection.close()
        raise describe(error, path, "open the OMS database") from None
    return connection


def _try_open(target: str) -> None:
    sqlite3.connect(target, uri=True).close()


async def probe(path: str, busy_timeout_ms: int, check_integrity: bool) -> int:
    """The schema version of the existing database at ``path``, refusing what we must not open.

    Raises
    ------
    OmsError
        Not a database, damaged, another program's database, or a newer schema version.
    """
    connection = await connect(path, busy_timeout_ms, read_only=True)
    try:
        # One statement, one snapshot: read apart, another process's migration committing in
        # between showed its tables with the version still 0 ("not an OMS database").
        rows = await connection.execute_fetchall(
            "SELECT (SELECT user_version FROM pragma_user_version),"
            " (SELECT count(*) FROM sqlite_master)"
        )
        version, tables = rows[0]
        if version > SCHEMA_VERSION:
            raise OmsError(
                f"written by a newer version of trade-console (schema v{version}; this one "
                f"knows up to v{SCHEMA_VERSION}); it was left as is: upgrade trade-console",
                path,
            )
        if version == 0 and tables:
            raise OmsError(
                "not an OMS database (it has tables but no OMS schema version); it was left "
                "as is: point the OMS at another file",
                path,
            )
        if check_integrity:
            rows = await connection.execute_fetchall("PRAGMA quick_check")
            problems = [
                line.strip()
                for row in rows
                for line in str(row[0]).splitlines()
                if line.strip() not in ("ok", "") and not line.startswith("***")
            ]
            if problems:
                more = f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""
                raise OmsError(_CORRUPT.format(reason=problems[0] + more), path)
        return version
    except sqlite3.Error as error:
        raise describe(error, path, "read the OMS database") from None
    finally:
        await connection.close()


async def prepare(connection: aiosqlite.Connection, path: str) -> None:
    """Switch a writing connection to WAL, durable against a crash of the process, and migrate.

    ``synchronous=NORMAL`` in WAL mode syncs at checkpoints, not at each commit: a committed
    transaction survives the process being killed (it is in the WAL, in the OS's cache), and
    only a power loss or kernel crash may take back the last commits.
    """
    try:
        mode = await _single(connection, "PRAGMA journal_mode = WAL")
        if str(mode).lower() != "wal":
            raise OmsError(f"cannot switch the OMS database to WAL mode (got {mode})", path)
        await connection.execute("PRAGMA synchronous = NORMAL")
        if await _single(connection, "PRAGMA user_version") < SCHEMA_VERSION:
            await _migrate(connection, path)
    except sqlite3.Error as error:
        raise describe(error, path, "prepare the OMS database") from None


async def _migrate(connection: aiosqlite.Connection, path: str) -> None:
    # IMMEDIATE takes the write lock first: a second process opening the same old database at
    # the same moment waits, then finds it migrated and does nothing.
    await connection.execute("BEGIN IMMEDIATE")
    version = 0
    try:
        version = await _single(connection, "PRAGMA user_version")
        if version > SCHEMA_VERSION:
            raise OmsError(
                f"migrated meanwhile to a newer schema (v{version} > v{SCHEMA_VERSION})", path
            )
        for step in MIGRATIONS[version:]:
            for statement in step:
                await connection.execute(statement)
        await connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await connection.execute("COMMIT")
    except BaseException as error:
        await rollback(connection)
        if isinstance(error, sqlite3.Error):
            raise OmsError(
                f"cannot migrate from schema v{version} to v{SCHEMA_VERSION} ({one_line(error)});"
                " nothing was changed",
                path,
            ) from None
        raise


async def rollback(connection: aiosqlite.Connection) -> None:
    """End the open transaction, if SQLite has not already ended it after an error."""
    with contextlib.suppress(sqlite3.Error, ValueError):  # "no transaction is active"
        await connection.execute("ROLLBACK")


async def _single(connection: aiosqlite.Connection, sql: str) -> int:
    rows = await connection.execute_fetchall(sql)
    return rows[0][0]
