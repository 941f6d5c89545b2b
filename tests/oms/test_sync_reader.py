"""``SyncReader``: the blocking read-only connection of the notifier and the metrics, on both
back ends: the same SQL, no writes, one-line failures, and a PostgreSQL server that restarts."""

from __future__ import annotations

import pytest
from oms_records import order_event
from pg_server import PgServer

from core.oms import OmsError, OmsStore
from core.oms.sync_reader import connect_read_only


async def test_the_same_sql_reads_the_same_rows_on_either_back_end(oms_location: str) -> None:
    async with await OmsStore.open(oms_location) as store:
        store.submit_many([order_event("O-1", 1, "ACCEPTED"), order_event("O-2", 1, "FILLED")])
        await store.flush()
        with connect_read_only(store.path) as reader:
            rows = reader.fetch(
                "SELECT client_order_id, quantity, is_open FROM orders WHERE status <> ?"
                " ORDER BY client_order_id",
                ("CANCELED",),
            )
            found = reader.one(
                "SELECT strpos(?, ': '), strpos(?, 'x'), substr(?, 1, strpos(?, ': ') - 1)",
                ("max_order_notional: 52,000", "abc", "rule: x", "rule: x"),
            )
            nothing = reader.one(
                "SELECT client_order_id FROM orders WHERE client_order_id = ?", ("O-9",)
            )
    assert rows == [("O-1", 0.5, 1), ("O-2", 0.5, 0)]
    assert found == (19, 0, "rule")
    assert nothing is None


async def test_a_reader_never_writes(oms_location: str) -> None:
    async with await OmsStore.open(oms_location) as store:
        with connect_read_only(store.path) as reader, pytest.raises(OmsError) as raised:
            reader.fetch("DELETE FROM orders")
    message = str(raised.value)
    assert "\n" not in message and "read the OMS database" in message
    assert "readonly" in message or "read-only" in message


async def test_a_reader_reconnects_after_the_server_restarts(pg_server: PgServer) -> None:
    oms_location = pg_server.new_database("reader_restart")
    async with await OmsStore.open(oms_location) as store:
        store.submit(order_event("O-1", 1, "ACCEPTED"))
        await store.flush()
    with connect_read_only(oms_location) as reader:
        assert reader.one("SELECT count(*) FROM orders") == (1,)
        pg_server.stop("fast")
        try:
            with pytest.raises(OmsError) as raised:
                reader.fetch("SELECT count(*) FROM orders")
        finally:
            pg_server.start()
        assert str(raised.value).startswith(f"{oms_location}: cannot read the OMS database: ")
        assert "\n" not in str(raised.value)
        assert reader.one("SELECT count(*) FROM orders") == (1,)


def test_a_password_in_the_url_is_refused_before_any_connection() -> None:
    with pytest.raises(OmsError) as raised:
        connect_read_only("postgresql://desk:hunter2@127.0.0.1:1/oms")
    assert "hunter2" not in str(raised.value)
    assert "the password must not be in the OMS URL" in str(raised.value)
