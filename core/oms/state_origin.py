"""Who changed the trading state, from where, when and why: the kill switch's provenance in words.

Every change is a ``TradingStateRecord`` (the latest is in force). The header, the Health pane,
the kill switch dialog, the alert and ``trade-console status`` all describe it with these
functions, so they say the same thing: ``HALTED by ops@box 14:02Z`` where a line is short (the
header at 80 columns), and ``HALTED by ops@box from a shell at 2026-01-05 14:02:03 UTC: fat
finger`` where there is room.

Who: the OS user and the host (``ops@box``), or ``auto: drawdown_limit`` when the node's own
risk rules changed it. From where: a console's kill switch, a shell (``trade-console kill`` /
``rearm``), or the node itself. Changes recorded before the OMS kept the source and the host
(schema v11) say only what they have.

The texts come from outside (an operator's reason, a host name): each is cut to a bound and
stripped of control characters here. Escaping markup is the screen's business (the console
shows them as plain text).
"""

from __future__ import annotations

import datetime as dt

from core.oms.events import TradingStateRecord

WHO_CHARS = 24
"""The longest ``who`` shown in the short form (``user@host``), cut with an ellipsis."""
REASON_CHARS = 500
"""The longest reason shown (the kill switch already refuses longer ones)."""
AUTO_PREFIX = "auto: "
"""How an automatic change's actor starts (``auto: drawdown_limit``)."""
_WHERE = {"console": "a console", "cli": "a shell", "auto": "the node (automatic)"}


def clean(text: str, limit: int) -> str:
    """``text`` on one line, without control characters, at most ``limit`` characters."""
    printable = "".join(char if char.isprintable() else " " for char in text)
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def state_label(record: TradingStateRecord) -> str:
    """``HALTED``, or ``HALTED (flatten)`` for a flatten."""
    return (
        f"{record.state} (flatten)" if record.flatten and record.state == "HALTED" else record.state
    )


def who(record: TradingStateRecord, limit: int = WHO_CHARS) -> str:
    """``ops@box`` (the host's first label), or the automatic rule's ``auto: ...``."""
    actor = clean(record.actor, limit)
    if record.source == "auto" or record.actor.startswith(AUTO_PREFIX) or not record.host:
        return actor
    host = record.host.split(".", 1)[0]
    return clean(f"{record.actor}@{host}", limit)


def where(record: TradingStateRecord) -> str | None:
    """``a console``, ``a shell`` or ``the node (automatic)``; None when not recorded."""
    return None if record.source is None else _WHERE.get(record.source, record.source)


def short_text(record: TradingStateRecord) -> str:
    """``HALTED by ops@box 14:02Z``: for the header at 80 columns."""
    moment = dt.datetime.fromtimestamp(record.ts_event / 1e9, dt.UTC)
    return f"{state_label(record)} by {who(record)} {moment:%H:%M}Z"


def short_texts(record: TradingStateRecord) -> list[str]:
    """``short_text`` and shorter forms of it, longest first, for a line with less room:
    ``HALTED by ops@box 14:02Z``, ``HALTED by ops 14:02Z`` (``REDUCING by auto 14:02Z`` for
    the node's own rules), ``HALTED by ops``, ``HALTED``."""
    moment = dt.datetime.fromtimestamp(record.ts_event / 1e9, dt.UTC)
    label = state_label(record)
    actor = clean(record.actor, WHO_CHARS)
    automatic = record.source == "auto" or record.actor.startswith(AUTO_PREFIX)
    texts = [
        short_text(record),
        f"{label} by {actor} {moment:%H:%M}Z",
        *([f"{label} by auto {moment:%H:%M}Z"] if automatic else []),
        f"{label} by {actor}",
        f"{record.state} by {actor}",
        label,
        record.state,
    ]
    return list(dict.fromkeys(texts))  # in order, each once


def full_text(record: TradingStateRecord, reason_chars: int = REASON_CHARS) -> str:
    """``HALTED by ops@box from a shell at 2026-01-05 14:02:03 UTC: fat finger`` (the reason
    cut at ``reason_chars``, for a dialog of a few lines)."""
    moment = dt.datetime.fromtimestamp(record.ts_event / 1e9, dt.UTC)
    source = where(record)
    origin = "" if source is None else f" from {source}"
    reason = clean(record.reason, reason_chars)
    return (
        f"{state_label(record)} by {who(record, 2 * WHO_CHARS)}{origin} "
        f"at {moment:%Y-%m-%d %H:%M:%S} UTC: {reason}"
    )


def as_json(record: TradingStateRecord) -> dict[str, object]:
    """The change for ``status --json``: every field, and the two texts."""
    moment = dt.datetime.fromtimestamp(record.ts_event / 1e9, dt.UTC)
    return {
        "state": record.state,
        "flatten": record.flatten,
        "actor": record.actor,
        "host": record.host,
        "source": record.source,
        "reason": record.reason,
        "at": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "at_ns": record.ts_event,
        "short": short_text(record),
        "text": full_text(record),
    }
