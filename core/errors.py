"""Errors the desk's operator sees as one line.

Every bad input (a config key, a data file, a signal) is reported as a single line that names
the problem and the file or field it came from. The CLI prints ``str(error)`` and exits non-zero;
it never shows a traceback for these.
"""

from __future__ import annotations

import asyncio
import re

TEXT_LIMIT = 500
"""The most characters of an outside text (a file's key, a venue's reason) that an alert, a
screen or ``status`` shows: a 50 MB instrument key must not become a 50 MB alert."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def bounded(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` made safe to store and print: control characters shown escaped (``\\n``,
    ``\\x1b``), so a newline or a terminal escape in a file's key can neither split a one-line
    message nor clear or recolour the operator's terminal; at most ``limit`` characters (counted
    as shown), then ``... (N more)`` saying how many of the text's characters were left out."""
    if len(text) <= limit and _CONTROL.search(text) is None:
        return text
    shown: list[str] = []
    width = 0
    used = 0
    for char in text:
        piece = _escape(char) if _CONTROL.fullmatch(char) else char
        if width + len(piece) > limit:
            break
        shown.append(piece)
        width += len(piece)
        used += 1
    left = len(text) - used
    return "".join(shown) + (f"... ({left:,} more)" if left else "")


def one_line_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """``bounded``, with line breaks and tabs first made single spaces: an alert is one line
    (its own ``\\n`` would split it, a file's would fake a second line)."""
    return bounded(_BREAKS.sub(" ", text), limit)


_BREAKS = re.compile(r"[ \t]*[\r\n\t\v\f\u2028\u2029]+[ \t]*")


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


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
    """The configuration file or a command-line option is invalid.

    The message is bounded and escaped (``bounded``): it may quote a key of any length, and the
    CLI prints it on the operator's terminal."""

    def __init__(self, message: str) -> None:
        super().__init__(bounded(message))


class DataError(TradeConsoleError):
    """A data file is missing, corrupt, unsorted, duplicated or inconsistent."""

    def __init__(self, problem: str, source: str | None = None) -> None:
        # Bounded and escaped: a problem often quotes the data (a key, a value) it is about.
        self.problem = problem = bounded(problem)
        self.source = source
        super().__init__(f"{source}: {problem}" if source else problem)


class RunCancelled(TradeConsoleError):
    """Raised inside a backtest the operator cancelled: it ends CANCELLED, not FAILED."""


class EmptyWindowError(DataError):
    """The window holds no ticks: a result from it would look complete yet mean nothing."""
