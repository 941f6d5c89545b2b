"""The desk's notification channels: apprise URLs from ``[notify] urls``, their secrets kept out
of sight.

A URL may name environment variables, ``${SLACK_TOKEN}``, so the config file holds no token;
they are replaced when the node starts (a variable not set is refused then, naming the field
and the variable). Everything a person or the OMS sees shows a channel by its masked URL
(apprise's own privacy form, query string dropped), and any text an error carries has the
substituted values scrubbed out.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import apprise

from core.config import NotifyConfig
from core.errors import ConfigError, one_line_text

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MASK = "****"
_PROBLEM_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
NOTIFY_TYPES = {
    "CRITICAL": apprise.NotifyType.FAILURE,
    "ERROR": apprise.NotifyType.FAILURE,
    "RESOLVED": apprise.NotifyType.SUCCESS,
    "INFO": apprise.NotifyType.INFO,
}
"""apprise's message type (its icon and colour on the channels that show one) per severity."""


@dataclass(frozen=True)
class SendResult:
    """How one send went."""

    ok: bool
    elapsed_ms: float
    error: str | None = None
    """One line, secrets scrubbed; None when sent."""


@dataclass(frozen=True, repr=False)
class Channel:
    """One apprise URL, ready to send to. ``repr`` shows the masked URL only."""

    index: int
    """Its position in ``[notify] urls`` (for the field name in messages)."""
    name: str
    """The URL with its secrets masked: what logs, the Health pane and the OMS show."""
    url: str
    """The URL with its variables substituted: secret, never shown."""
    secrets: tuple[str, ...] = ()
    """The values substituted for ``${NAME}``: scrubbed from any error text."""

    def __repr__(self) -> str:
        return f"Channel({self.index}, {self.name})"

    def scrub(self, text: str) -> str:
        """``text`` without this channel's secrets (the URL, its substituted values)."""
        for secret in sorted((self.url, *self.secrets), key=len, reverse=True):
            if secret:
                text = text.replace(secret, _MASK)
        return text

    def send(self, title: str, body: str, severity: str, timeout_secs: float) -> SendResult:
        """Send one message and wait for the channel's answer (at most ``timeout_secs`` per
        request apprise makes). Blocks: call it from a sender thread, never the event loop."""
        started = time.perf_counter()
        notifier = apprise.Apprise()
        plugin = apprise.Apprise.instantiate(self.url)
        if plugin is None:  # checked at start; a plugin that changed its mind since
            return SendResult(False, 0.0, f"{self.name}: apprise no longer accepts this URL")
        plugin.socket_connect_timeout = timeout_secs
        plugin.socket_read_timeout = timeout_secs
        notifier.add(plugin)
        problems: list[str] = []

        def heard(entry: apprise.NotifyLogEntry, _plugin: object) -> None:
            if str(entry.level) in _PROBLEM_LEVELS:  # why a send failed
                problems.append(str(entry.message))

        try:
            result = notifier.notify(
                body=body,
                title=title,
                notify_type=NOTIFY_TYPES.get(severity, apprise.NotifyType.INFO),
                log_callback=heard,
            )
            ok = bool(result)
        except Exception as error:  # a plugin's bug must not end the sender thread
            ok = False
            problems.append(f"{type(error).__name__}: {error}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        if ok:
            return SendResult(True, elapsed_ms)
        reason = problems[-1] if problems else "the channel did not accept the message"
        return SendResult(False, elapsed_ms, one_line_text(self.scrub(reason), 300))


def load_channels(
    notify: NotifyConfig, environ: Mapping[str, str] | None = None
) -> tuple[Channel, ...]:
    """The channels of ``notify.urls``, each checked by apprise.

    Raises
    ------
    ConfigError
        One line naming ``notify.urls.N``: a ``${NAME}`` not set in the environment, or a URL
        apprise does not know (its scheme shown, never the rest of it).
    """
    env = os.environ if environ is None else environ
    channels = []
    for index, raw in enumerate(notify.urls):
        field = f"notify.urls.{index}"
        url, secrets = _expand(raw.strip(), field, env)
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = raw.partition("://")[0]
            raise ConfigError(
                f"{field}: '{one_line_text(scheme, 40)}://...' is not a URL apprise can send "
                "to (see apprise's list of services)"
            )
        channels.append(Channel(index, masked(plugin), url, secrets))
    return tuple(channels)


def _expand(raw: str, field: str, env: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    # ${NAME} -> the variable's value; the values are returned to be scrubbed from errors.
    secrets: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        value = env.get(match[1])
        if not value:
            raise ConfigError(f"{field}: ${{{match[1]}}} is not set in the node's environment")
        secrets.append(value)
        return value

    return _VARIABLE.sub(substitute, raw), tuple(secrets)


def masked(plugin: apprise.plugins.NotifyBase) -> str:
    """``plugin``'s URL in apprise's privacy form, without its query string (options, and
    for some services a key)."""
    return plugin.url(privacy=True).partition("?")[0]
