"""What a message says: the desk, the mode, the trading state and one line of reason.

A phone's lock screen shows the title and the start of the body, so the title names the desk
and the incident and the body's first line the desk's state; the reason follows, bounded.
"""

from __future__ import annotations

import datetime as dt

from core.errors import one_line_text
from core.notify.incidents import Message

REASON_LIMIT = 300
"""Characters of an alert's message a notification carries."""
_TITLES = {"incident": "{severity} {what}", "reminder": "still {severity} {what}"}


def incident_name(key: str) -> str:
    """``alert:drawdown_limit`` -> ``drawdown_limit``; ``part:target watcher`` -> ``target
    watcher``."""
    return key.partition(":")[2] or key


def compose(message: Message, desk: str, mode: str, trading_state: str) -> tuple[str, str]:
    """The (title, body) of ``message`` for the desk ``desk``."""
    what = incident_name(message.incident)
    head = f"{desk} | {mode} | trading {trading_state}"
    reason = one_line_text(message.reason, REASON_LIMIT)
    since = _utc(message.opened_ns)
    if message.kind == "resolved":
        title = f"{desk}: resolved {what}"
        body = f"{head}\nresolved: {reason} (open since {since})"
    elif message.kind == "reminder":
        title = f"{desk}: " + _TITLES["reminder"].format(severity=message.severity, what=what)
        body = (
            f"{head}\nopen since {since}, {message.repeats} more alerts since the last "
            f"message\n{reason}"
        )
    else:
        title = f"{desk}: " + _TITLES["incident"].format(severity=message.severity, what=what)
        body = f"{head}\n{reason}"
    return one_line_text(title, 120), body


def _utc(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
