"""Where the OMS lives: a local SQLite file (the default) or a PostgreSQL server.

``[oms] url`` names it: empty (then ``[oms] database``, a path) or a path means SQLite, which
needs nothing installed and suits one trading box; ``postgresql://user@host:port/db`` means
PostgreSQL, for a desk whose node, consoles, batch and monitoring run on several machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.database_url import is_postgres_url, postgres_url_problem, redact
from core.oms.errors import OmsError


@dataclass(frozen=True)
class OmsLocation:
    """A parsed ``[oms] url``: the back end, and the path or URL it opens."""

    backend: Literal["sqlite", "postgresql"]
    target: str
    """The SQLite file's path as given, or the PostgreSQL URL (never with a password)."""

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"


def parse_location(text: str) -> OmsLocation:
    """``text`` (a path or a ``postgresql://`` URL) as an ``OmsLocation``.

    Raises
    ------
    OmsError
        A PostgreSQL URL with a password in it, or without a host or a database name.
    """
    text = str(text)
    if not is_postgres_url(text):
        return OmsLocation("sqlite", text)
    problem = postgres_url_problem(text)
    if problem is not None:
        raise OmsError(problem, redact(text))
    return OmsLocation("postgresql", text)
