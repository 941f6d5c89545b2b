"""Where the OMS lives: a local SQLite file (the default) or a PostgreSQL server.

``[oms] url`` names it: empty (then ``[oms] database``, a path) or a path means SQLite, which
needs nothing installed and suits one trading box; ``postgresql://user@host:port/db`` means
PostgreSQL, for a desk whose node, consoles, batch and monitoring run on several machines.

The password never sits in the file: a URL that carries one is refused, and libpq takes it from
``PGPASSWORD`` or ``~/.pgpass`` (``PGPASSFILE``), as every PostgreSQL tool does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from core.oms.errors import OmsError

POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class OmsLocation:
    """A parsed ``[oms] url``: the back end, and the path or URL it opens."""

    backend: Literal["sqlite", "postgresql"]
    target: str
    """The SQLite file's path as given, or the PostgreSQL URL (never with a password)."""

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"


def is_postgres_url(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL server rather than a file."""
    scheme, sep, _ = str(text).partition("://")
    return bool(sep) and scheme.lower() in POSTGRES_SCHEMES


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


def postgres_url_problem(url: str) -> str | None:
    """What is wrong with a PostgreSQL URL for the OMS, in one line; None when it is usable."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        return f"not a usable PostgreSQL URL ({error})"
    if parts.password is not None or "password" in parse_qs(parts.query):
        return (
            "the password must not be in the OMS URL (it would sit in the config file): "
            "set PGPASSWORD or put it in ~/.pgpass"
        )
    if not parts.hostname:
        return "the OMS URL names no host (postgresql://user@host:port/database)"
    if not parts.path.strip("/"):
        return "the OMS URL names no database (postgresql://user@host:port/database)"
    return None


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``: safe to print or log."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    except ValueError:
        return "(an unparseable URL)"
