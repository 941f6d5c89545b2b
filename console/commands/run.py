"""``trade-console run``: the node without a terminal, for a box where nobody watches a screen.

The same ``NodeSession`` as the dashboard's, on this process's own loop, writing the same OMS
(a console opened later, or ``trade-console status``, shows it). It runs until SIGTERM or
SIGINT (Ctrl-C), then stops the node cleanly (SIGHUP, a dropped SSH session, is ignored: the
node outlives its terminal): the watcher first, then Nautilus
(``stop_async``, never ``node.dispose()``), then a last heartbeat saying STOPPED, and the OMS is
flushed before the process exits. Nautilus's own output goes to its log file; file descriptors
1 and 2 are pointed at ``{logging.directory}/node-stdio.log`` while it runs, so nothing of
Nautilus reaches a terminal or a service manager's journal unasked; our own one-line messages
are printed before and after.

One node per OMS (``core.live.lease``): when another node holds the OMS, ``run`` prints one line
naming it (pid, host, since) and exits 2 without building anything; the other node is untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

import msgspec

from console.commands.dashboard import STDIO_LOG
from console.commands.headless import run_until_stopped, stop_signals
from console.logs import log_to_file
from core.config import AppConfig, load_config
from core.fd_capture import redirect_std_fds
from core.oms import OmsStore

EXIT_NOT_CONNECTED = 1


def run_node_command(args: argparse.Namespace) -> int:
    """Start the node headless; returns 0 after a clean stop, 1 if it never connected."""
    config = load_config(getattr(args, "config", None))
    config = with_overrides(config, data_root=args.data_root, speed=args.speed)
    log_to_file(config)
    return asyncio.run(serve_node(config, args.mode, args.confirm_live, args.exit_when_done))


def with_overrides(
    config: AppConfig, *, data_root: str | None, speed: float | None = None
) -> AppConfig:
    """``config`` with the command line's ``--data-root`` and ``--speed`` applied."""
    if data_root is not None:
        config = msgspec.structs.replace(
            config, data=msgspec.structs.replace(config.data, root=data_root)
        )
    if speed is not None:
        config = msgspec.structs.replace(
            config, node=msgspec.structs.replace(config.node, replay_speed=speed)
        )
    return config


async def serve_node(
    config: AppConfig,
    mode: str | None,
    confirm_live: bool,
    exit_when_done: bool,
    seconds: float | None = None,
    before_stop: Callable[[TextIO], Awaitable[None]] | None = None,
) -> int:
    """Run the node on this loop until SIGTERM/SIGINT, the replay's end (``exit_when_done``)
    or ``seconds``; 0 after a clean stop, 1 if it never connected.

    ``before_stop`` is awaited with the terminal's stream once the wait is over, while the node
    still runs (the demo prints ``status`` there: after the stop it would say STOPPED).

    Raises
    ------
    NodeLeaseHeld
        Another node holds the OMS (the command line prints it and exits 2).
    """
    # Imported here: Nautilus costs ~0.3 GB and a second, the status command needs neither.
    from core.live.session import NodeSession

    loop = asyncio.get_running_loop()
    store = await OmsStore.open(config.oms.location)
    try:
        with redirect_std_fds(Path(config.logging.directory) / STDIO_LOG) as terminal:
            # Takes the OMS first: with another node on it, one line and exit 2, nothing built.
            session = await NodeSession.create(config, store, mode=mode, confirm_live=confirm_live)
            # After the engine is built: its kernel installs its own handlers, which it removes.
            with stop_signals(loop) as stop:
                state = await session.start()
                print(
                    f"trade-console: node {state.node_state} ({state.mode}, {state.source}, "
                    f"{', '.join(state.venues)}); logs in {config.logging.directory}",
                    file=terminal,
                )
                if state.node_state != "RUNNING":
                    print(f"trade-console: {state.detail}", file=terminal)
                try:
                    await run_until_stopped(session, stop, seconds, exit_when_done)
                    if before_stop is not None:
                        await before_stop(terminal)
                finally:
                    await session.stop()
            print("trade-console: node stopped", file=terminal)
    finally:
        await store.close()
    sys.stdout.flush()
    return 0 if state.node_state == "RUNNING" else EXIT_NOT_CONNECTED
