"""``trade-console demo-data``: write the sample data set the demo and tests run on."""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from core.config import load_config, use_gcs_config
from core.data.demo_data import generate_demo_data


def run_demo_data(args: argparse.Namespace) -> int:
    """Generate the deterministic demo data under ``--root`` (default: the config's data root).

    A ``gs://bucket/prefix`` root is written through gcsfs as the config's ``[gcs]`` says (the
    bucket is created if missing), so the same command seeds a bucket or the emulator.
    """
    config = load_config(args.config)
    use_gcs_config(config.gcs)
    root = args.root or config.data.root
    console = Console(stderr=True)
    started = time.perf_counter()
    with console.status(f"writing demo data to {root}") as status:
        report = generate_demo_data(
            root, days=args.days, seed=args.seed, progress=lambda text: status.update(text)
        )
    seconds = time.perf_counter() - started
    for instrument_id, rows in report.rows_per_instrument.items():
        console.print(f"  {instrument_id}: {rows:,} trades")
    console.print(
        f"wrote {len(report.files)} files ({report.total_trades:,} trades, "
        f"{report.signals} signals) to {root} in {seconds:.1f} s"
    )
    return 0
