"""The OMS schema on PostgreSQL: the same steps as ``core.oms.schema``, in PostgreSQL's words.

Each SQLite step of ``MIGRATIONS`` becomes the PostgreSQL step of the same number, so both back
ends share one version count (a database at v12 has the same tables and columns on either) and
a change to the schema is still one step appended in ``core.oms.schema``. The translation is
small and mechanical, and ``tests/oms/test_postgres_schema.py`` checks its result column by
column against SQLite's:

- ``INTEGER`` -> ``BIGINT`` (timestamps are int64 ns), ``REAL`` -> ``DOUBLE PRECISION``;
- ``STRICT`` and ``WITHOUT ROWID`` go (PostgreSQL's types are strict already);
- a generated column is ``STORED`` (PostgreSQL 15 has no ``VIRTUAL``), its boolean expression
  turned into 1 or 0, as SQLite stores it.

The version is kept in ``oms_schema`` (SQLite keeps it in ``PRAGMA user_version``).
"""

from __future__ import annotations

import re

from core.oms.schema import MIGRATIONS

VERSION_TABLE = "oms_schema"
CREATE_VERSION_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
    " id INTEGER PRIMARY KEY DEFAULT 1 CHECK (id = 1), version INTEGER NOT NULL)"
)

_GENERATED = re.compile(
    r"(?P<name>\w+) INTEGER GENERATED ALWAYS AS \((?P<expression>.*?)\)\s*VIRTUAL", re.DOTALL
)


def translate(statement: str) -> str:
    """One SQLite DDL statement of ``MIGRATIONS`` in PostgreSQL's dialect."""
    text = _GENERATED.sub(
        lambda m: (
            f"{m['name']} INTEGER GENERATED ALWAYS AS "
            f"(CASE WHEN ({m['expression'].strip()}) THEN 1 ELSE 0 END) STORED"
        ),
        statement,
    )
    text = re.sub(r"\)\s*STRICT\s*,\s*WITHOUT ROWID\s*$", ")", text.rstrip())
    text = re.sub(r"\)\s*STRICT\s*$", ")", text)
    text = re.sub(r"\bINTEGER\b", "BIGINT", text)
    text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text)
    return text


POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = tuple(
    tuple(translate(statement) for statement in step) for step in MIGRATIONS
)
"""Step ``i`` takes a PostgreSQL OMS from version ``i`` to ``i + 1``, as in SQLite."""
