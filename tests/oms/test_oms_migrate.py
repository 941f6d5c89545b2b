"""``trade-console oms migrate``: a real SQLite OMS copied into a real PostgreSQL server, read
back through the store's own readers, and every refusal one line."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest
from console_seed import desk_records, heartbeat, pnl_snapshot, targets_in_force
from oms_records import T0, fill, order_event
from pg_server import PgServer, free_port

from console.cli import EXIT_BAD_INPUT, main
from core.oms import (
    SCHEMA_VERSION,
    AuditEntry,
    BalanceSnapshot,
    NodeHolder,
    Notification,
    OmsStore,
    RoutedOrder,
    TradingStateRecord,
)
from core.oms.schema import MIGRATIONS, TABLES

S = 1_000_000_000
# Doubles a decimal round trip could change: each must arrive bit for bit.
AWKWARD = (0.1 + 0.2, 5e-324, 1.7976931348623157e308, 94_000.00000000001, 2.0**-1074 * 3)
# (No -0.0: SQLite keeps an integral REAL as an integer and gives -0.0 back as 0.0.)


def every_table() -> list:
    """The console's seeded desk, plus a record for each table it leaves empty, with awkward
    doubles and text (non-BMP characters, a quote, a line break)."""
    records = desk_records()
    records += [order_event("O-1", 1, "INITIALIZED"), order_event("O-1", 2, "FILLED")]
    records += [
        msgspec.structs.replace(fill(index, "O-1"), price=price)
        for index, price in enumerate(AWKWARD)
    ]
    records += [
        heartbeat(),
        pnl_snapshot(),
        targets_in_force(),
        BalanceSnapshot(
            account_id="BINANCE-001",
            currency="USDT",
            total=100_000.123456789,
            locked=-0.0,
            free=100_000.123456789,
            ts_event=T0,
            event_id="b1",
            account_type="CASH",
        ),
        AuditEntry(
            entry_id="x1",
            ts=T0,
            actor="ops 👩‍💻",
            action="kill",
            reason='it\'s "late"\nsecond line',
            details={"n": 1},
        ),
        TradingStateRecord(ts_event=T0, state="HALTED", actor="ops", reason="night", host="h1"),
        TradingStateRecord(ts_event=T0 + S, state="ACTIVE", actor="ops", reason="morning"),
        RoutedOrder(
            client_order_id="O-1",
            decision_id="d1",
            ts_event=T0,
            instrument_id="BTCUSDT.BINANCE",
            venue="BINANCE",
            side="BUY",
            quantity=0.5,
            parent_quantity=0.5,
            order_type="MARKET",
            explanation="cheapest",
            candidates=({"venue": "BINANCE", "cost_bps": 0.1 + 0.2},),
        ),
        Notification(
            notification_id="n1",
            ts_event=T0,
            channel="json://127.0.0.1/hook",
            kind="incident",
            incident="alert:drawdown",
            severity="CRITICAL",
            status="sent",
            title="DESK-A: CRITICAL drawdown",
            body="daily drawdown 3.1% over 3.0%",
            alert_id="a2",
            elapsed_ms=12.5,
        ),
        # A node that held the file and died long ago (not a running one: see below).
        NodeHolder(token="t1", pid=1, host="old-box", os_user="ops", started_at=T0 - 3_600 * S),
    ]
    return records


async def seeded(path: Path) -> None:
    async with await OmsStore.open(path) as store:
        store.submit_many(every_table())
        await store.flush()
        counts = await store.counts()
    assert all(counts[table] for table in TABLES), counts  # the test covers every table


async def everything(store: OmsStore) -> dict[str, list[str]]:
    """What each of the store's readers returns, as sorted reprs (ties may come in either
    order on either back end; a float's repr is exact)."""
    orders = await store.orders(1_000)
    read = {
        "orders": orders,
        "order_history": [
            event for order in orders for event in await store.order_history(order.client_order_id)
        ],
        "positions": await store.positions(),
        "position_timeline": await store.position_timeline(limit=1_000),
        "fills": await store.fills(1_000),
        "balances": await store.balances(),
        "drift": await store.drift(1_000),
        "alerts": await store.alerts(1_000),
        "notifications": await store.notifications(1_000),
        "route_decisions": await store.route_decisions(1_000),
        "uploads": await store.uploads(1_000),
        "runs": await store.runs(1_000),
        "audit": await store.audit(1_000),
        "node_status": [await store.node_status()],
        "pnl": [await store.pnl()],
        "node_holder": [await store.node_holder()],
        "trading_state": await store.trading_state_history(1_000),
        "targets": await store.targets_history(1_000),
        "counts": [await store.counts()],
    }
    return {name: sorted(repr(row) for row in rows) for name, rows in read.items()}


async def migrate(source: Path | str, target: str) -> int:
    """The command, as a shell runs it (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(main, ["oms", "migrate", "--from", str(source), "--to", target])


@pytest.fixture
async def source(tmp_path: Path) -> Path:
    """A SQLite OMS holding a record in every table."""
    path = tmp_path / "oms.sqlite"
    await seeded(path)
    return path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


async def test_a_desk_is_copied_whole_and_reads_back_equal(
    pg_server: PgServer, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = pg_server.new_database("migrate_whole")
    assert await migrate(source, target) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list(TABLES)
    assert all(line.endswith("checksum ok") for line in lines[:-1])
    assert "orders" in lines[0] and lines[0].split()[1] == "7"  # six seeded, O-1
    assert lines[-1].startswith(f"{sum(int(x.split()[1]) for x in lines[:-1]):,} rows in 18")
    assert target in lines[-1] and "copied" in lines[-1]
    async with (
        await OmsStore.open(source, read_only=True) as before,
        await OmsStore.open(target, read_only=True) as after,
    ):
        assert await everything(after) == await everything(before)
        assert await after.version() > 0  # consoles watching the target see the copy
        prices = {fill.price.hex() for fill in await after.fills(1_000)}
        assert {price.hex() for price in AWKWARD} <= prices


async def test_a_target_that_holds_a_desks_rows_is_refused_and_left_as_is(
    pg_server: PgServer, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = pg_server.new_database("migrate_not_empty")
    async with await OmsStore.open(target) as other_desk:
        other_desk.submit(order_event("OTHER-1", 1, "ACCEPTED"))
        await other_desk.flush()
    assert await migrate(source, target) == EXIT_BAD_INPUT
    error = one_line_error(capsys)
    assert error == (
        f"trade-console: {target}: the target already holds OMS rows (orders: 1, "
        "order_events: 1): copy into an empty database, so that two desks' histories never mix"
    )
    async with await OmsStore.open(target, read_only=True) as other_desk:
        counts = await other_desk.counts()
    assert {table: n for table, n in counts.items() if n and table in TABLES} == {
        "orders": 1,
        "order_events": 1,
    }


async def test_a_server_that_rounds_doubles_fails_the_check_and_keeps_nothing(
    pg_server: PgServer, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # extra_float_digits = 0: the server prints doubles to 15 digits, so the desk would read
    # 0.30000000000000004 back as 0.3. The copy is right; what the desk would read is not.
    target = pg_server.new_database("migrate_rounding")
    pg_server.psql("ALTER DATABASE migrate_rounding SET extra_float_digits = 0")
    assert await migrate(source, target) == 1
    captured = capsys.readouterr()
    differs = [line.split()[0] for line in captured.out.splitlines() if "DIFFERS" in line]
    # The tables holding a double of more than 15 digits: the awkward fill prices, and the
    # drift computed from them (the seeded orders' and balances' figures survive rounding).
    assert differs == ["fills", "drift_observations"]
    assert "NOT copied (rolled back)" in captured.out.splitlines()[-1]
    assert captured.err == (
        f"trade-console: the copy differs from the source in {', '.join(differs)}: nothing "
        "was kept in the target\n"
    )
    assert pg_server.psql("SELECT count(*) FROM fills", database="migrate_rounding") == "0"


async def test_a_row_the_server_refuses_is_one_line_naming_its_table_and_keeps_nothing(
    pg_server: PgServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite keeps a NUL character in text; PostgreSQL's text cannot hold one.
    source = tmp_path / "oms.sqlite"
    async with await OmsStore.open(source) as store:
        store.submit(order_event("O-1", 1, "ACCEPTED"))
        store.submit(AuditEntry(entry_id="x1", ts=T0, actor="ops", action="kill", reason="a\x00b"))
        await store.flush()
    target = pg_server.new_database("migrate_refused_row")
    assert await migrate(source, target) == EXIT_BAD_INPUT
    error = one_line_error(capsys)
    assert error.startswith(
        f"trade-console: {target}: cannot copy audit_log into the OMS database ("
    )
    assert error.endswith("); nothing was written")
    assert pg_server.psql("SELECT count(*) FROM orders", database="migrate_refused_row") == "0"


def older_schema(path: Path, version: int) -> None:
    with sqlite3.connect(path) as connection:
        for step in MIGRATIONS[:version]:
            for statement in step:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {version}")
    connection.close()


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (SCHEMA_VERSION + 1, "written by a newer version of trade-console"),
        (SCHEMA_VERSION - 1, "open it once with the console or the node to migrate it"),
    ],
    ids=["newer", "older"],
)
async def test_a_source_not_at_this_programs_schema_is_refused(
    pg_server: PgServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    version: int,
    expected: str,
) -> None:
    source = tmp_path / "oms.sqlite"
    older_schema(source, min(version, SCHEMA_VERSION))
    if version > SCHEMA_VERSION:
        with sqlite3.connect(source) as connection:
            connection.execute(f"PRAGMA user_version = {version}")
        connection.close()
    name = f"migrate_schema_{version}"
    assert await migrate(source, pg_server.new_database(name)) == EXIT_BAD_INPUT
    error = one_line_error(capsys)
    assert error.startswith(f"trade-console: {source}: ") and expected in error
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert pg_server.psql(tables, database=name) == "0"  # the target was not touched


async def test_a_source_a_running_node_holds_is_refused(
    pg_server: PgServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "oms.sqlite"
    async with await OmsStore.open(source) as store:
        store.submit(
            NodeHolder(
                token="live",
                pid=os.getppid(),  # a process that runs, on this host
                host=socket.gethostname(),
                os_user="ops",
                started_at=time.time_ns(),
            )
        )
        await store.flush()
    assert await migrate(source, pg_server.new_database("migrate_held")) == EXIT_BAD_INPUT
    error = one_line_error(capsys)
    assert f"a running node pid {os.getppid()} on {socket.gethostname()}" in error
    assert error.endswith(
        "holds this OMS: stop it first, or the copy would miss what it writes next"
    )


@pytest.mark.parametrize(
    ("given_source", "given_target", "expected"),
    [
        ("missing.sqlite", "{url}", "{tmp}/missing.sqlite: no such OMS file: nothing to copy"),
        ("oms.sqlite", "{tmp}/other.sqlite", "the target must be a PostgreSQL URL"),
        (
            "oms.sqlite",
            "postgresql://desk:hunter2@127.0.0.1:{port}/oms",
            "postgresql://desk:***@127.0.0.1:{port}/oms: the password must not be in the OMS URL",
        ),
        ("oms.sqlite", "postgresql://desk@127.0.0.1:{port}/", "the OMS URL names no database"),
        ("oms.sqlite", "postgresql://desk@127.0.0.1:{port}:x/oms", "not a usable PostgreSQL URL"),
        (
            "oms.sqlite",
            "postgresql://desk@127.0.0.1:{down}/oms",
            "postgresql://desk@127.0.0.1:{down}/oms: cannot connect to the OMS database: "
            "Connection refused; no PostgreSQL server answers there: is it running?",
        ),
        ("{url}", "{url}", "the source must be a SQLite OMS file, not a PostgreSQL URL"),
    ],
    ids=["missing-file", "not-a-url", "password", "no-database", "bad-port", "down", "pg-source"],
)
async def test_a_bad_input_is_one_line_naming_it(
    pg_server: PgServer,
    source: Path,
    capsys: pytest.CaptureFixture[str],
    given_source: str,
    given_target: str,
    expected: str,
) -> None:
    tmp = source.parent
    names = {"tmp": tmp, "url": pg_server.url, "port": pg_server.port, "down": free_port()}
    source_path = given_source.format(**names)
    if "{" not in given_source:
        source_path = str(tmp / given_source)
    code = await migrate(source_path, given_target.format(**names))
    assert code == EXIT_BAD_INPUT
    error = one_line_error(capsys)
    assert expected.format(**names) in error
    assert "hunter2" not in error


def test_migrate_names_its_options_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["oms", "migrate", "--help"])
    out = capsys.readouterr().out
    assert "--from SQLITE_PATH" in out and "--to URL" in out and "PGPASSWORD" in out
