"""Python's log records (the desk's own, gcsfs's retries, warnings) into a file, never onto the
terminal: a library's traceback on stderr would draw over the console, or bury a command's one
line of outcome under fifty lines nobody asked for."""

from __future__ import annotations

import logging
from pathlib import Path

from core.config import AppConfig
from core.errors import ConfigError

LOG_FILE = "trade-console.log"
"""In ``[logging] directory``."""


class _DeskLog(logging.FileHandler):
    """The handler ``log_to_file`` installs: a second call replaces it instead of adding one."""


def log_to_file(config: AppConfig) -> Path:
    """Send every log record (warnings included) to the log file, none to the terminal.

    Raises
    ------
    ConfigError
        The log cannot be written in ``[logging] directory``: one line naming it.
    """
    folder = Path(config.logging.directory)
    path = folder / LOG_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = _DeskLog(path, encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(f"logging.directory: cannot write {path} ({reason})") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        terminal = isinstance(existing, logging.StreamHandler) and not isinstance(
            existing, logging.FileHandler
        )
        if terminal or isinstance(existing, _DeskLog):
            root.removeHandler(existing)
            if isinstance(existing, _DeskLog):
                existing.close()
    root.addHandler(handler)
    root.setLevel(config.logging.level)
    logging.captureWarnings(True)
    return path
