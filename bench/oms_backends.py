"""The OMS back ends a bench measures side by side: a SQLite file and a PostgreSQL server.

Not a benchmark itself. ``BenchDatabases`` hands each measurement a fresh, empty OMS location on
the back end it names: a new file in a temporary folder, or a new database on a PostgreSQL 15
server the bench starts for itself (``tests/pg_server.py``: ``initdb`` and ``pg_ctl`` on
127.0.0.1, in a temporary folder), reached as the desk reaches one: a ``postgresql://`` URL
without the password, the password in ``PGPASSWORD`` (set here, so spawned processes inherit it).
Both back ends in one run, on one machine at one moment: their ratio is the figure to read when
the machine is shared.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pg_server import PASSWORD, PgServer, available  # noqa: E402

BACKENDS = ("sqlite", "postgresql")


def parse_backends(text: str) -> list[str]:
    """``--backend``'s comma-separated names, checked; a bad one exits naming the option."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKENDS]
    if unknown or not names:
        raise SystemExit(
            f"--backend: {', '.join(unknown) or 'nothing'} is not one of {', '.join(BACKENDS)}"
        )
    return names


class BenchDatabases:
    """Fresh OMS locations for one bench run; ``with`` it to start and remove its server.

    ``backends`` loses ``postgresql`` (with a line saying so) where no server can be started.
    """

    def __init__(self, backends: list[str]) -> None:
        self.backends = list(backends)
        self._folder = tempfile.TemporaryDirectory(prefix="bench-oms-")
        self.server: PgServer | None = None
        self._names = itertools.count(1)
        self._password: str | None = None

    def __enter__(self) -> Self:
        if "postgresql" in self.backends:
            if available():
                self.server = PgServer()  # its own folder: the postgres user must reach it
                self.server.start()
                self._password = os.environ.get("PGPASSWORD")
                os.environ["PGPASSWORD"] = PASSWORD
            else:
                print("postgresql: skipped (PostgreSQL's initdb/pg_ctl are not installed)")
                self.backends.remove("postgresql")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.server is not None:
            self.server.remove()
            if self._password is None:
                os.environ.pop("PGPASSWORD", None)
            else:
                os.environ["PGPASSWORD"] = self._password
        self._folder.cleanup()

    @property
    def folder(self) -> Path:
        """The run's temporary folder (SQLite files, scratch files)."""
        return Path(self._folder.name)

    def fresh(self, backend: str, name: str) -> str:
        """A new, empty OMS location on ``backend``: a file's path or a database's URL."""
        unique = f"{name}_{next(self._names)}"
        if backend == "sqlite":
            return str(self.folder / f"{unique}.sqlite")
        if self.server is None:
            raise RuntimeError("no PostgreSQL server in this run")
        return self.server.new_database(unique)
