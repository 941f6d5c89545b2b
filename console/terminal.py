"""Keep the terminal for Textual alone while Nautilus runs in the same process.

Nautilus's Rust logger writes straight to file descriptors 1 and 2 (ERROR lines even with its
stdout level OFF), and Textual draws on ``sys.__stderr__``. ``screen_only_for_textual`` points
fds 1 and 2 at a log file and hands Textual a duplicate of the terminal as its
``sys.__stderr__``/``sys.__stdout__``: the screen is Textual's, anything else lands in the log.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.fd_capture import redirect_std_fds


@contextmanager
def screen_only_for_textual(log_path: Path) -> Iterator[None]:
    """While inside, fds 1/2 go to ``log_path`` and Python's std streams to the terminal."""
    saved = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    with redirect_std_fds(log_path) as terminal:
        sys.stdout = sys.stderr = terminal
        sys.__stdout__ = sys.__stderr__ = terminal  # type: ignore[misc]
        try:
            yield
        finally:
            sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = saved  # type: ignore[misc]
