"""PostgreSQL URLs as the config names them: which text is one, what is wrong with it, and how
to print it without a secret.

A root module: the config checks ``[oms] url`` with it, and ``core.oms.location`` opens with it.
The password never sits in the file: a URL that carries one is refused, and libpq takes it from
``PGPASSWORD`` or ``~/.pgpass`` (``PGPASSFILE``), as every PostgreSQL tool does.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL server rather than a file."""
    scheme, sep, _ = str(text).partition("://")
    return bool(sep) and scheme.lower() in POSTGRES_SCHEMES


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
