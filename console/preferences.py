"""What the operator chose in the console and expects to find again: today, the theme.

Kept in a small JSON file under the user's config folder
(``$XDG_CONFIG_HOME/trade-console/state.json``, else ``~/.config/trade-console/state.json``;
``TRADE_CONSOLE_STATE_DIR`` names another folder), not in the desk's config file: the config
is the desk's and may be read-only or shared, a theme is one operator's eyes. The file is
written whole to a temporary name and moved into place, so a crash never leaves half of it;
an unreadable or foreign file is ignored (the config's theme applies), never an error.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

_log = logging.getLogger(__name__)

STATE_DIR_VARIABLE = "TRADE_CONSOLE_STATE_DIR"
MAX_STATE_BYTES = 64 * 1024
"""A state file larger than this is not ours: ignored unread."""


def state_path() -> Path:
    """Where this user's console state lives."""
    folder = os.environ.get(STATE_DIR_VARIABLE)
    if folder:
        return Path(folder) / "state.json"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "trade-console" / "state.json"


def remembered_theme(known: set[str]) -> str | None:
    """The theme the operator last chose, if it is one of ``known``; else None."""
    state = _read()
    theme = state.get("theme")
    return theme if isinstance(theme, str) and theme in known else None


def remember_theme(name: str) -> None:
    """Keep ``name`` as the operator's theme for the next start (a failure is only logged)."""
    state = _read()
    if state.get("theme") == name:
        return
    state["theme"] = name
    path = state_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        _log.warning("cannot keep the theme in %s: %s", path, error.strerror or error)


def _read() -> dict[str, object]:
    path = state_path()
    try:
        if not path.is_file() or path.stat().st_size > MAX_STATE_BYTES:
            return {}
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        _log.warning("ignoring the console state in %s: %s", path, error)
        return {}
    return state if isinstance(state, dict) else {}
