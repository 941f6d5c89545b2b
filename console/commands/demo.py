"""``trade-console demo``: the sample data (generated once) and a backtest on it, no network.

Until the shadow node and the dashboard land, the demo shows the backtest core end to end:
it writes the deterministic demo data under the config's data root when it is not there yet,
then runs the backtest command on it.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from console.commands.backtest import run_backtest_command
from core.config import load_config
from core.demo_data import generate_demo_data
from core.layout import TRADES_DIR
from core.storage import join, resolve


def run_demo(args: argparse.Namespace) -> int:
    """Generate the demo data if needed, then backtest it."""
    config = load_config(getattr(args, "config", None))
    fs, base = resolve(config.data.root)
    if not fs.exists(join(base, TRADES_DIR)):
        console = Console(stderr=True)
        with console.status(f"writing demo data to {config.data.root}") as status:
            generate_demo_data(config.data.root, progress=lambda text: status.update(text))
    backtest_args = argparse.Namespace(
        config=getattr(args, "config", None),
        data_root=None,
        results_root=None,
        start=None,
        end=None,
        instruments=None,
        targets=None,
    )
    return run_backtest_command(backtest_args)
