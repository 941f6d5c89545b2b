"""``trade-console demo``: the console in SHADOW mode on generated sample data, no network.

It writes the deterministic demo data under the config's data root when it is not there yet,
writes a first target-weights file (40% BTC, 30% ETH) as the research process would, and opens
the dashboard with the node embedded: SHADOW on REPLAY (the recorded trades re-stamped with
the live clock, at ``node.replay_speed``), sandbox fills, everything into the OMS the panes
read. Writing a new target file (docs/operator/trying-the-node.md) rebalances within a heartbeat.

Without a terminal (a pipe, CI), there is no screen to draw: the same node runs headless for
``--seconds``, the demo prints ``trade-console status`` while the node still runs (a status
read after the stop would only say STOPPED), then stops the node and says so in one line.

When a node already holds the OMS (a demo running in another shell in the same folder), the
demo refuses with one line naming it and exits 2 before it writes anything, targets included.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console

from core.config import AppConfig, load_config
from core.data.demo_data import generate_demo_data
from core.data.layout import TRADES_DIR
from core.data.target_file import write_target_file
from core.oms import OmsStore
from core.storage.roots import join, resolve

DEMO_TARGETS = {"BTCUSDT.BINANCE": 0.40, "ETHUSDT.BINANCE": 0.30}
"""The first targets the demo's "research process" writes."""


def run_demo(args: argparse.Namespace) -> int:
    """Sample data (once), first targets, then the dashboard with the shadow node."""
    config = load_config(getattr(args, "config", None))
    # Before the targets file is written: a node already on this OMS would trade it.
    asyncio.run(_refuse_a_held_oms(config))
    fs, base = resolve(config.data.root)
    if not fs.exists(join(base, TRADES_DIR)):
        console = Console(stderr=True)
        with console.status(f"writing demo data to {config.data.root}") as status:
            generate_demo_data(config.data.root, progress=lambda text: status.update(text))
    write_first_targets(config)
    if sys.stdin.isatty() and sys.stdout.isatty():
        from console.commands.dashboard import run_dashboard

        args.node = "shadow"
        return run_dashboard(args)
    return _headless(args, config)


async def _refuse_a_held_oms(config: AppConfig) -> None:
    from core.live.lease import ensure_free

    async with await OmsStore.open(config.oms.location) as store:
        await ensure_free(store, down_after_s=config.console.down_after_secs)


def write_first_targets(config: AppConfig) -> Path:
    """A fresh target file (as of now), so the node has something to trade at once."""
    path = Path(config.watcher.path)
    write_target_file(str(path), dict(DEMO_TARGETS), dt.datetime.now(dt.UTC), "demo-research")
    return path


def _headless(args: argparse.Namespace, config: AppConfig) -> int:
    from console.commands.run import serve_node
    from console.logs import log_to_file

    seconds = getattr(args, "seconds", 30.0)
    print(
        f"trade-console demo: no terminal, so no dashboard; the shadow node runs headless for "
        f"{seconds:g} s, then its status is printed and it stops",
        file=sys.stderr,
    )
    log_to_file(config)

    async def print_status(terminal: TextIO) -> None:
        # ``trade-console status`` itself, in a process of its own: read from this process,
        # which holds the OMS, the node would look like an earlier node of the same process
        # that did not let go ("gone"). Waited for in a thread: asyncio's own subprocesses
        # need a child watcher, which the event-loop policy Nautilus installs does not have.
        command = [sys.executable, "-m", "console.cli", "status"]
        if getattr(args, "config", None) is not None:
            command += ["--config", args.config]
        done = await asyncio.to_thread(
            subprocess.run, command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60
        )
        terminal.write(done.stdout.decode(errors="replace"))

    return asyncio.run(
        serve_node(config, "shadow", False, False, seconds=seconds, before_stop=print_status)
    )
