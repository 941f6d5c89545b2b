"""The one error the OMS store raises for a database the operator must look at.

A missing or unwritable folder, a database from a newer version of the program, a corrupt file,
a disk that refuses writes: each is one line naming the database file and what to do, never a
raw ``sqlite3`` traceback, because the console and ``trade-console status`` print it as is.
"""

from __future__ import annotations

from core.errors import TradeConsoleError


class OmsError(TradeConsoleError):
    """The OMS database cannot be opened, migrated, read or written."""

    def __init__(self, problem: str, source: str | None = None) -> None:
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {problem}" if source else problem)


class OmsMissingError(OmsError):
    """No OMS database at the path, and the caller asked not to create one."""
