"""Opening a SQLite OMS: creation, migration, and every file it must refuse untouched.

These are about files (folders, permissions, damaged pages, WAL); what they check on a
PostgreSQL server (a newer schema, another program's tables, an older schema migrated, every
set-up mistake in one line) is in ``test_oms_postgres.py``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from core.oms import SCHEMA_VERSION, AuditEntry, Fill, OmsError, OmsStore
from core.oms.schema import MIGRATIONS, TABLES

T0 = 1_767_571_200_000_000_000


def _pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}


def _v1_database(path: Path) -> None:
    """A database as the first release left it: schema v1, rollback journal, one fill."""
    connection = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.execute(
        "INSERT INTO fills (trade_id, client_order_id, instrument_id, strategy_id, side, "
        "quantity, price, commission, commission_currency, liquidity_side, ts_event) VALUES "
        "('T-1', 'O-1', 'BTCUSDT.BINANCE', 'REBAL-001', 'BUY', 0.5, 94000.0, 0.1, 'USDT', "
        f"'TAKER', {T0})"
    )
    connection.close()


async def _refused(path: Path | str, **options: object) -> str:
    with pytest.raises(OmsError) as caught:
        await OmsStore.open(path, **options)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


async def test_opening_creates_the_folder_and_a_current_wal_database(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "oms.sqlite"
    async with await OmsStore.open(path) as store:
        assert await store.integrity_check() == ["ok"]
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    assert _pragma(path, "journal_mode") == "wal"
    assert set(TABLES) < _tables(path)


async def test_an_older_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    _v1_database(path)
    assert "audit_log" not in _tables(path)
    async with await OmsStore.open(path) as store:
        (kept,) = await store.fills()
        store.submit(AuditEntry.now("ops", "kill", "after the migration"))
        await store.flush()
        assert len(await store.audit()) == 1
    assert kept.trade_id == "T-1"
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    assert _pragma(path, "journal_mode") == "wal"


async def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    _v1_database(path)
    with sqlite3.connect(path) as connection:  # a table in the way of step 2
        connection.execute("CREATE TABLE runs (anything TEXT)")
    message = await _refused(path)
    assert f"cannot migrate from schema v1 to v{SCHEMA_VERSION}" in message
    assert _pragma(path, "user_version") == 1
    assert "drift_observations" not in _tables(path)  # step 2's first table: rolled back


async def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    async with await OmsStore.open(path) as store:
        store.submit(AuditEntry.now("ops", "kill", "before the downgrade"))
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    message = await _refused(path)
    assert f"schema v{SCHEMA_VERSION + 1}" in message
    assert f"up to v{SCHEMA_VERSION}" in message
    assert path.read_bytes() == before


async def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    path.write_bytes(b"this is not SQLite " * 500)
    before = path.read_bytes()
    message = await _refused(path)
    assert "not a readable OMS database" in message
    assert "left as is" in message
    assert path.read_bytes() == before


async def test_a_damaged_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "oms.sqlite"
    async with await OmsStore.open(path) as store:
        for index in range(3_000):
            store.submit(_fill(index))
    page_size = _pragma(path, "page_size")
    data = bytearray(path.read_bytes())
    assert len(data) > 20 * page_size
    for page in range(5, 15):  # scribble over ten pages in the middle of the file
        data[page * page_size : (page + 1) * page_size] = b"\xa5" * page_size
    path.write_bytes(data)
    message = await _refused(path)
    assert "not a readable OMS database" in message
    assert path.read_bytes() == bytes(data)


async def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    before = path.read_bytes()
    assert "not an OMS database" in await _refused(path)
    assert path.read_bytes() == before


async def test_a_folder_that_cannot_be_created_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    message = await _refused(blocker / "oms.sqlite")
    assert "cannot create the OMS database folder" in message


async def test_an_unwritable_folder_is_a_one_line_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through permission bits; /proc refuses new files even to root
        folder = Path("/proc")
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
    message = await _refused(folder / "oms.sqlite")
    assert "cannot open the OMS database" in message
    assert f"is {folder} writable?" in message


async def test_a_remote_url_is_refused() -> None:
    message = await _refused("gs://bucket/oms.sqlite")
    assert "must be a local file" in message


async def test_read_only_opening_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "oms.sqlite"
    assert "no OMS database here yet" in await _refused(path, read_only=True)
    assert not path.parent.exists()


async def test_read_only_opening_of_an_older_database_asks_for_a_migration(
    tmp_path: Path,
) -> None:
    path = tmp_path / "oms.sqlite"
    _v1_database(path)
    before = path.read_bytes()
    message = await _refused(path, read_only=True)
    assert f"schema v1, not v{SCHEMA_VERSION}" in message
    assert path.read_bytes() == before


def _fill(index: int) -> Fill:
    return Fill(
        trade_id=f"T-{index}",
        client_order_id=f"O-{index // 2}",
        instrument_id="BTCUSDT.BINANCE",
        strategy_id="REBAL-001",
        side="BUY",
        quantity=0.25,
        price=94_000.0 + index,
        commission=0.1,
        commission_currency="USDT",
        liquidity_side="TAKER",
        ts_event=T0 + index,
    )


@pytest.mark.parametrize("read_only", [False, True])
async def test_a_folder_in_place_of_the_database_is_a_one_line_error(
    tmp_path: Path, read_only: bool
) -> None:
    path = tmp_path / "oms.sqlite"
    path.mkdir()
    message = await _refused(path, read_only=read_only)
    assert "a folder is where the OMS database file should be" in message
    assert not any(path.iterdir())
