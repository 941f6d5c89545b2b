"""Errors the desk's operator sees as one line.

Every bad input (a config key, a data file, a signal) is reported as a single line that names
the problem and the file or field it came from. The CLI prints ``str(error)`` and exits non-zero;
it never shows a traceback for these.
"""

from __future__ import annotations

import asyncio


def one_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its type's name when it has none): what a
    one-line report of a failure from a library (pyarrow, gcsfs, SQLite) keeps."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def task_part(name: str, task: asyncio.Task[object] | None) -> tuple[str, str, str]:
    """A background task as a part of the node reports itself: (name, state, detail).

    A task that ended, by an exception or by returning, is DOWN with what ended it: such a task
    (a watcher, a poller) is meant to run as long as the node, so its end is a failure to say.
    """
    if task is None:
        return (name, "NONE", "not started")
    if not task.done():
        return (name, "OK", "running")
    if task.cancelled():
        return (name, "DOWN", "ended: cancelled")
    error = task.exception()
    if error is None:
        return (name, "DOWN", "ended")
    return (name, "DOWN", f"ended: {type(error).__name__}: {one_line(error)}"[:300])


class TradeConsoleError(Exception):
    """Base of every error that is the input's fault, not the program's."""


class ConfigError(TradeConsoleError):
    """The configuration file or a command-line option is invalid."""


class DataError(TradeConsoleError):
    """A data file is missing, corrupt, unsorted, duplicated or inconsistent."""

    def __init__(self, problem: str, source: str | None = None) -> None:
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {problem}" if source else problem)


class RunCancelled(TradeConsoleError):
    """Raised inside a backtest the operator cancelled: it ends CANCELLED, not FAILED."""


class EmptyWindowError(DataError):
    """The window holds no ticks: a result from it would look complete yet mean nothing."""
