"""``TableDigest``: a table's rows counted and summed into one checksum, the same way on any
back end, so a copy can be checked against its source without trusting the copy.

Each row is hashed alone (SHA-256 of its MessagePack encoding: a float is its 8 bytes, so two
floats hash alike only if they are bit for bit equal, ``-0.0`` and ``0.0`` apart; an int and a
float, text and bytes, never alike) and the row hashes are added modulo 2**256. The sum does
not depend on the order rows come in: neither side has to sort. That matters because the two
back ends do not sort text alike (SQLite by bytes, PostgreSQL by the database's collation), so
"ordered by primary key" would not be the same order on both; and a sort of a whole table is
the slowest part of a check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

_MODULUS = 1 << 256
_ENCODE = msgspec.msgpack.Encoder().encode


@dataclass
class TableDigest:
    """Rows counted and summed; ``add`` them in any order."""

    rows: int = 0
    _total: int = field(default=0, repr=False)

    def add(self, row: Sequence[Any]) -> None:
        digest = hashlib.sha256(_ENCODE(tuple(row))).digest()
        self._total = (self._total + int.from_bytes(digest)) % _MODULUS
        self.rows += 1

    def add_all(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.add(row)

    @property
    def checksum(self) -> str:
        """The sum as 64 hex digits."""
        return f"{self._total:064x}"
