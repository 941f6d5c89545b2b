"""``trade-console`` with no subcommand: the dashboard over the OMS.

The OMS database is opened before the first frame is drawn, so a bad one (an unwritable
folder, a newer schema, a corrupt file) is the OMS's one line on stderr and exit code 2, with
the file left as it was, never a half-drawn screen. While the dashboard runs nothing may write
to the terminal: logging goes to a file under the config's log folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from console.app import Detached, TradeConsoleApp
from console.commands.headless import run_until_stopped, stop_signals
from console.logs import log_to_file
from console.terminal import screen_only_for_textual
from core.config import AppConfig, load_config
from core.oms import AuditEntry, OmsStore
from core.risk.trading_state import operator_name

_log = logging.getLogger(__name__)

STDIO_LOG = "node-stdio.log"
"""What reaches fds 1/2 while a node runs in the console (Nautilus's stray ERROR lines)."""


def run_dashboard(args: argparse.Namespace) -> int:
    """Open the OMS named by the config, then run the dashboard until the operator quits.

    Raises
    ------
    OmsError
        The database cannot be opened (the caller prints it and exits 2).
    ConfigError
        The config is invalid, or the log folder cannot be created.
    """
    config = load_config(getattr(args, "config", None))
    log_to_file(config)
    node_mode = getattr(args, "node", None)
    if node_mode in (None, "none"):
        return asyncio.run(_serve(config))
    # Nautilus writes to fds 1/2 whatever its log config says: only Textual may draw.
    with screen_only_for_textual(Path(config.logging.directory) / STDIO_LOG):
        return asyncio.run(
            _serve(config, node_mode, confirm_live=getattr(args, "confirm_live", False))
        )


async def _serve(
    config: AppConfig, node_mode: str | None = None, confirm_live: bool = False
) -> int:
    store = await OmsStore.open(config.oms.location)
    app = TradeConsoleApp(
        config, store=store, tune_gc=True, node_mode=node_mode, confirm_live=confirm_live
    )
    loop = asyncio.get_running_loop()
    # A dropped SSH session (SIGHUP) detaches a node inside the console instead of ending it.
    loop.add_signal_handler(signal.SIGHUP, app.hang_up)
    try:
        try:
            await app.run_async()
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
        if app.detached is not None:
            await _run_detached(app.detached, store)
    finally:
        await store.close()
    return app.return_code or 0


async def _run_detached(detached: Detached, store: OmsStore) -> None:
    """The node goes on headless in this process after its console left, until SIGTERM/SIGINT.

    It keeps its heartbeat, its target-file watcher and the kill switch (read from the OMS,
    so ``trade-console kill`` from any shell reaches it); a console opened later on the same
    OMS shows it. The detach is audited, with who and why.
    """
    session = detached.session
    if session.engine.state().node_state == "STOPPED":
        # The console left while its node was starting: Textual cancelled the start, which
        # stops a half-started node (or never began it). Nothing to run headless; let go of
        # the OMS if the start never came to.
        _log.warning("console left (%s) before its node had started", detached.reason)
        await session.stop()
        return
    store.submit(
        AuditEntry.now(
            operator_name(),
            "detach",
            detached.reason,
            {"pid": os.getpid(), "host": socket.gethostname()},
        )
    )
    await store.flush()
    _leave_the_terminal(detached)
    _log.warning("console detached (%s): node runs headless, pid %d", detached.reason, os.getpid())
    with stop_signals(asyncio.get_running_loop()) as stop:
        try:
            await run_until_stopped(session, stop)
        finally:
            await session.stop()
    _log.warning("detached node stopped")


def _leave_the_terminal(detached: Detached) -> None:
    # Say so on the terminal while there is one; after a hang-up there is none (writes fail).
    # Nothing reads the terminal any more: standard input becomes /dev/null.
    if not detached.terminal_gone:
        with contextlib.suppress(OSError, ValueError):
            print(
                f"trade-console: console detached; the node keeps trading headless in pid "
                f"{os.getpid()}. This terminal may be closed. `trade-console status` and "
                f"`trade-console kill` work from any shell; `trade-console` in this folder "
                f"attaches a console; SIGTERM or Ctrl-C here stops the node.",
                file=sys.__stdout__,
                flush=True,
            )
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
