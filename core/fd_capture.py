"""Keep file descriptors 1 and 2 away from the terminal while Nautilus runs.

Nautilus's Rust logger writes straight to fds 1 and 2, past any ``sys.stdout`` replacement, and
even with its stdout level OFF it still writes ERROR lines to fd 2. A progress bar or a Textual
screen drawn on the same terminal would be written over. ``redirect_std_fds`` points both fds at
a log file and hands back a stream to the real terminal for whoever draws on it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from core.errors import ConfigError


@contextmanager
def redirect_std_fds(log_path: Path) -> Iterator[TextIO]:
    """Send everything written to fds 1 and 2 to ``log_path``; yield a stream to the terminal.

    The yielded stream writes to a duplicate of the original fd 1, so it reaches the terminal
    while anything else (Nautilus, stray prints) lands in the log.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
    try:
        point_std_fds(log_path)
        yield terminal
    finally:
        for stream in (sys.stdout, sys.stderr, terminal):
            # A terminal that hung up (a dropped SSH session) fails every write: what was
            # buffered for it is lost either way, and the fds must still be put back.
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err):
            os.close(fd)
        with contextlib.suppress(OSError):
            terminal.close()


def point_std_fds(log_path: Path) -> None:
    """Point fds 1 and 2 at ``log_path`` for good: for a process that exists to run Nautilus
    (a launched backtest), whose Rust logger may still write while the process exits.

    Raises
    ------
    ConfigError
        The log cannot be created there: one line naming ``logging.directory``, before any fd
        moved.
    """
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as error:
        raise ConfigError(
            f"logging.directory: cannot write the log {log_path} ({error.strerror or error})"
        ) from None
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
