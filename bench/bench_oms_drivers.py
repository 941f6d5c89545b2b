"""Benchmark: asyncpg against psycopg 3 writing the OMS's order upserts to PostgreSQL.

Prints figures; asserts nothing. Why psycopg 3 was chosen (``core/oms/postgres.py``) rests on
this: on one PostgreSQL 15 server the bench starts on 127.0.0.1 (``bench/oms_backends.py``),
each driver writes ``--orders`` orders' events through the OMS's own ``orders`` upsert (the SQL
``core.oms.ingest.plan`` makes: insert a new order, replace it with a newer event) in
transactions of 500 rows, one ``executemany`` each, as the OMS writer batches them. Four events
per order (initialised, submitted, accepted, filled): one insert and three updates. Each driver
has its own database of the OMS schema; rounds alternate between drivers, medians of
``--rounds``.

- psycopg 3: ``AsyncConnection`` in autocommit with explicit ``BEGIN``/``COMMIT`` and
  ``cursor.executemany`` (pipelined by psycopg), as ``core.oms.postgres.PgConnection`` does;
- asyncpg: ``connection.transaction()`` and ``connection.executemany`` (a prepared statement,
  binary protocol).

asyncpg is not a dependency of trade-console: run ``uv run --with asyncpg python
bench/bench_oms_drivers.py [--orders N] [--rounds N]``; without it, only psycopg is measured
(a line says so).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from bench_oms import STATUSES, order_records  # noqa: E402
from oms_backends import BenchDatabases  # noqa: E402

from core.oms import OmsStore, OrderEvent  # noqa: E402
from core.oms.ingest import plan, row  # noqa: E402
from core.oms.postgres import to_psycopg  # noqa: E402

ROWS_PER_TRANSACTION = 500

Write = Callable[[list[Sequence[Any]]], Awaitable[None]]


def order_events(first: int, orders: int) -> list[OrderEvent]:
    """``orders`` orders' four events each, in the order a node reports them (``bench_oms``'s
    orders, without their fills and positions)."""
    return [
        record
        for n in range(first, first + orders)
        for record in order_records(n)
        if isinstance(record, OrderEvent)
    ]


def upsert(events: list[OrderEvent]) -> tuple[str, list[tuple]]:
    """The OMS's ``orders`` upsert (``?`` parameters) and a row per event: each order's first
    event inserts, the next three update (a batch of the store would send only each order's
    latest; the drivers are compared on the statement's full work)."""
    (step,) = [step for step in plan(events[:1]) if step.table == "orders"]
    return step.sql, [row(event) for event in events]


def numbered(sql: str) -> str:
    """``sql`` with ``?`` parameters numbered as asyncpg's ``$1``, ``$2``, ..."""
    counter = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


async def psycopg_writer(url: str, sql: str) -> tuple[Write, Callable[[], Awaitable[None]]]:
    connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
    statement = to_psycopg(sql)

    async def write(rows: list[Sequence[Any]]) -> None:
        await connection.execute("BEGIN")
        async with connection.cursor() as cursor:
            await cursor.executemany(statement, rows)
        await connection.execute("COMMIT")

    return write, connection.close


async def asyncpg_writer(url: str, sql: str) -> tuple[Write, Callable[[], Awaitable[None]]]:
    import asyncpg  # not a dependency: see the module's docstring

    connection = await asyncpg.connect(url)  # the password from PGPASSWORD, as libpq reads it
    statement = numbered(sql)

    async def write(rows: list[Sequence[Any]]) -> None:
        async with connection.transaction():
            await connection.executemany(statement, rows)

    return write, connection.close


WRITERS = {"psycopg 3": psycopg_writer, "asyncpg": asyncpg_writer}


async def one_round(write: Write, rows: list[tuple]) -> float:
    """Rows/s writing ``rows`` in transactions of ``ROWS_PER_TRANSACTION``."""
    started = time.perf_counter()
    for start in range(0, len(rows), ROWS_PER_TRANSACTION):
        await write(rows[start : start + ROWS_PER_TRANSACTION])
    return len(rows) / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5_000, help="orders per round (4 rows each)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per driver (median)")
    args = parser.parse_args()
    drivers = list(WRITERS)
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        print(
            "asyncpg: skipped (not installed; run `uv run --with asyncpg python "
            "bench/bench_oms_drivers.py`)"
        )
        drivers.remove("asyncpg")
    with BenchDatabases(["postgresql"]) as databases:
        if not databases.backends:
            return
        writers = {}
        for driver in drivers:
            url = databases.fresh("postgresql", "drivers")
            await (await OmsStore.open(url)).close()  # the OMS schema, made as the desk makes it
            writers[driver] = await WRITERS[driver](url, upsert(order_events(0, 1))[0])
        rates: dict[str, list[float]] = {driver: [] for driver in drivers}
        for index in range(args.rounds):  # alternating, so machine noise hits both alike
            _, rows = upsert(order_events(index * args.orders, args.orders))
            for driver in drivers:
                rates[driver].append(await one_round(writers[driver][0], rows))
        for _, close in writers.values():
            await close()
    rows_per_round = args.orders * len(STATUSES)
    print(
        f"orders upsert, {rows_per_round:,} rows a round ({args.orders:,} orders: 1 insert + 3 "
        f"updates each) in {ROWS_PER_TRANSACTION}-row transactions, medians of {args.rounds}:"
    )
    for driver in drivers:
        spread = ", ".join(f"{rate:,.0f}" for rate in rates[driver])
        print(f"  {driver:<10} {statistics.median(rates[driver]):9,.0f} rows/s  (rounds {spread})")


if __name__ == "__main__":
    asyncio.run(main())
