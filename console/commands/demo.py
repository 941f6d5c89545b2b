"""``trade-console demo``: sample data (generated once), a backtest on it, then the dashboard.

No network and no cloud. Until the shadow node lands (issue 4) the demo shows the backtest core
and the console: it writes the deterministic demo data under the config's data root when it is
not there yet, runs a backtest on it that records its orders, fills and positions in the OMS,
and opens the dashboard over that OMS (in BACKTEST mode: no node runs, and it says so).

The backtest runs in a child process: Nautilus's logger writes to the process's file
descriptors and is set up once per process, so it must never share a process with the
dashboard's screen.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from rich.console import Console

from core.config import load_config
from core.demo_data import generate_demo_data
from core.layout import TRADES_DIR
from core.storage import join, resolve


def run_demo(args: argparse.Namespace) -> int:
    """Generate the demo data if needed, backtest it, then open the dashboard (on a terminal)."""
    config_path = getattr(args, "config", None)
    config = load_config(config_path)
    fs, base = resolve(config.data.root)
    if not fs.exists(join(base, TRADES_DIR)):
        console = Console(stderr=True)
        with console.status(f"writing demo data to {config.data.root}") as status:
            generate_demo_data(config.data.root, progress=lambda text: status.update(text))
    command = [sys.executable, "-m", "console.cli", "backtest"]
    if config_path is not None:
        command += ["--config", str(config_path)]
    code = subprocess.run(command, check=False).returncode
    if code != 0 or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return code
    from console.commands.dashboard import run_dashboard

    return run_dashboard(args)
