"""Waiting while a node runs headless: until SIGTERM/SIGINT, never ended by SIGHUP.

Shared by ``trade-console run`` and by a console that detached from its node (the dashboard),
so both outlive the terminal they were started from in the same way.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.live.session import NodeSession

_log = logging.getLogger(__name__)


@contextmanager
def stop_signals(loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.Event]:
    """An event set by SIGTERM or SIGINT; SIGHUP ignored (logged) while inside.

    A node must outlive the terminal it was started from: an SSH session that drops sends
    SIGHUP, which by default ends the process and the desk's trading with it. SIGTERM and
    SIGINT (a service manager, Ctrl-C) are the ways to stop a node, and they stop it cleanly.
    """
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _hung_up)
    try:
        yield stop
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)


def _hung_up() -> None:
    _log.warning("SIGHUP: the terminal hung up; the node keeps running (SIGTERM stops it)")


async def run_until_stopped(
    session: NodeSession,
    stop: asyncio.Event,
    seconds: float | None = None,
    exit_when_done: bool = False,
) -> None:
    """Wait while ``session`` runs: until ``stop`` is set, ``seconds`` pass, or (with
    ``exit_when_done``) its replay has played to the end. The caller stops the session."""
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    while deadline is None or loop.time() < deadline:
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
            return
        except TimeoutError:
            if exit_when_done and _replay_done(session):
                return


def _replay_done(session: object) -> bool:
    replay = getattr(getattr(session, "engine", None), "replay", None)
    return replay is not None and replay.progress().finished
