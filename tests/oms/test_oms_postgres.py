"""Opening an OMS on a real PostgreSQL server: the schema as SQLite's, migrations, refusals,
and every set-up mistake in one line (the password never in the URL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from pg_server import PASSWORD, USER, PgServer

from core.config import load_config
from core.errors import ConfigError
from core.oms import SCHEMA_VERSION, OmsError, OmsMissingError, OmsStore
from core.oms.postgres_schema import POSTGRES_MIGRATIONS

_SQLITE_TYPES = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision"}


def sqlite_columns(path: Path) -> dict[str, list[tuple[str, str, bool]]]:
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            table: [
                (name, _SQLITE_TYPES[kind], bool(not_null))
                for _, name, kind, not_null, _, _, *_ in db.execute(
                    f"SELECT * FROM pragma_table_xinfo('{table}')"
                )
            ]
            for table in tables
        }


def postgres_columns(server: PgServer, url: str) -> dict[str, list[tuple[str, str, bool]]]:
    database = url.rsplit("/", 1)[1]
    rows = server.psql(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name <> 'oms_schema'"
        " ORDER BY table_name, ordinal_position",
        database=database,
    )
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for line in rows.splitlines():
        table, name, kind, nullable = line.split("|")
        columns.setdefault(table, []).append((name, kind, nullable == "NO"))
    return columns


async def test_the_schema_on_postgresql_has_sqlites_tables_and_columns(
    pg_server: PgServer, tmp_path: Path
) -> None:
    url = pg_server.new_database("schema_as_sqlite")
    async with await OmsStore.open(url) as store:
        assert await store.schema_version() == SCHEMA_VERSION
    async with await OmsStore.open(tmp_path / "oms.sqlite"):
        pass
    sqlite = sqlite_columns(tmp_path / "oms.sqlite")
    postgres = postgres_columns(pg_server, url)
    assert set(postgres) == set(sqlite)
    for table, columns in sqlite.items():  # the same names, order, types and NOT NULLs
        assert postgres[table] == columns, table


async def test_an_older_postgresql_oms_is_migrated_in_place_keeping_its_rows(
    pg_server: PgServer,
) -> None:
    url = pg_server.new_database("older_schema")
    database = url.rsplit("/", 1)[1]
    steps = ";\n".join(s for step in POSTGRES_MIGRATIONS[:10] for s in step)
    pg_server.psql(
        f"{steps};\nCREATE TABLE oms_schema (id INTEGER PRIMARY KEY, version INTEGER NOT NULL);"
        "\nINSERT INTO oms_schema VALUES (1, 10);"
        "\nINSERT INTO audit_log VALUES ('e1', 1, 'ops', 'kill', 'kept', NULL)",
        database=database,
    )
    with pytest.raises(OmsError, match="schema v10, not v12: open it once"):
        await OmsStore.open(url, read_only=True)
    async with await OmsStore.open(url) as store:
        assert await store.schema_version() == SCHEMA_VERSION
        assert [entry.reason for entry in await store.audit()] == ["kept"]
        assert await store.notifications() == []  # v12's table is there


async def test_a_newer_schema_is_refused_and_left_as_it_was(pg_server: PgServer) -> None:
    url = pg_server.new_database("newer_schema")
    async with await OmsStore.open(url):
        pass
    database = url.rsplit("/", 1)[1]
    pg_server.psql(f"UPDATE oms_schema SET version = {SCHEMA_VERSION + 1}", database=database)
    with pytest.raises(OmsError, match=r"newer version of trade-console .*left as is") as caught:
        await OmsStore.open(url)
    assert "\n" not in str(caught.value)
    assert pg_server.psql("SELECT version FROM oms_schema", database=database) == str(
        SCHEMA_VERSION + 1
    )


async def test_another_programs_database_is_refused_untouched(pg_server: PgServer) -> None:
    url = pg_server.new_database("someone_elses")
    database = url.rsplit("/", 1)[1]
    pg_server.psql("CREATE TABLE invoices (id INTEGER)", database=database)
    with pytest.raises(OmsError, match="not an OMS database"):
        await OmsStore.open(url)
    tables = pg_server.psql(
        "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'",
        database=database,
    )
    assert tables == "invoices"


async def test_an_empty_database_read_only_says_no_oms_yet(pg_server: PgServer) -> None:
    url = pg_server.new_database("empty_for_status")
    with pytest.raises(OmsMissingError, match="no OMS in this PostgreSQL database yet"):
        await OmsStore.open(url, read_only=True)
    with pytest.raises(OmsMissingError):
        await OmsStore.open(url, create=False)


@pytest.mark.parametrize(
    ("password", "tail", "problem"),
    [
        (None, "/oms", "no password supplied; no password: set PGPASSWORD"),
        ("wrong", "/oms", "password authentication failed for user"),
        (PASSWORD, "/no_such_db", 'database "no_such_db" does not exist; ask the server'),
    ],
)
async def test_set_up_mistakes_are_one_line_naming_the_fix(
    pg_server: PgServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    password: str | None,
    tail: str,
    problem: str,
) -> None:
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    if password is None:
        monkeypatch.delenv("PGPASSWORD", raising=False)
    else:
        monkeypatch.setenv("PGPASSWORD", password)
    url = f"postgresql://{USER}@127.0.0.1:{pg_server.port}{tail}"
    with pytest.raises(OmsError) as caught:
        await OmsStore.open(url)
    message = str(caught.value)
    assert problem in message and "\n" not in message
    assert message.startswith(url)


async def test_a_server_that_is_not_there_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from pg_server import free_port

    monkeypatch.setenv("PGPASSWORD", "x")
    url = f"postgresql://desk@127.0.0.1:{free_port()}/oms"
    with pytest.raises(OmsError, match="no PostgreSQL server answers there: is it running"):
        await OmsStore.open(url)


async def test_the_password_comes_from_pgpass_when_not_in_the_environment(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_server.port}:*:{USER}:{PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    async with await OmsStore.open(pg_server.new_database("with_pgpass")) as store:
        assert await store.schema_version() == SCHEMA_VERSION


def test_a_password_in_the_configs_url_is_refused_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[oms]\nurl = "postgresql://desk:hunter2@db.desk:5432/oms"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = str(caught.value)
    assert "oms.url: the password must not be in the OMS URL" in message
    assert "hunter2" not in message


async def test_a_password_in_a_url_given_directly_is_refused_and_never_printed() -> None:
    with pytest.raises(OmsError) as caught:
        await OmsStore.open("postgresql://desk:hunter2@127.0.0.1:5432/oms")
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


async def test_two_writers_from_two_processes_number_their_commits_in_order(
    pg_server: PgServer,
) -> None:
    # Two stores (two connections, as two processes) writing at once: every version is used
    # once, and a reader following versions misses no table.
    from oms_records import fill

    url = pg_server.new_database("two_writers")
    async with await OmsStore.open(url) as one, await OmsStore.open(url) as two:
        for index in range(300):
            (one if index % 2 else two).submit(fill(index))
        await one.flush()
        await two.flush()
        assert (await one.counts())["fills"] == 300
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as raw:
            cursor = await raw.execute("SELECT max(version) FROM table_versions")
            latest = (await cursor.fetchone())[0]
        assert latest == one.stats.batches + two.stats.batches


def test_a_commit_announces_its_version_and_tables_and_gaps_make_a_watcher_ask() -> None:
    from core.oms.postgres import Subscription, announcement

    assert announcement(7, frozenset({"orders", "fills"})) == "7 fills,orders"
    heard = Subscription()
    assert heard.take(0) is None  # just subscribed: ask the database once
    heard.heard = {1: frozenset({"fills"}), 2: frozenset({"orders"})}
    assert heard.take(0) == (2, frozenset({"fills", "orders"}))
    heard.heard = {5: frozenset({"fills"})}  # 3 and 4 were not heard
    assert heard.take(2) is None
    assert heard.take(5) == (5, frozenset())  # nothing new


async def test_a_commit_never_announced_is_still_seen_at_the_safety_nets_interval(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import core.oms.store as store_module

    monkeypatch.setattr(store_module, "_ANNOUNCED_SAFETY_SECS", 0.2)
    url = pg_server.new_database("unannounced")
    async with await OmsStore.open(url) as store:
        watch = store.watch(interval=3600.0)
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.5)  # subscribed and listening
        # A writer that bumps the counters without NOTIFY (as no trade-console writer does).
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as raw:
            await raw.execute(
                "UPDATE table_versions SET version = (SELECT max(version) + 1"
                " FROM table_versions) WHERE name = 'fills'"
            )
        changes = await asyncio.wait_for(pending, 10)
        await watch.aclose()
        assert changes.tables == {"fills"}
