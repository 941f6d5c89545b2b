"""Benchmark: a signal-driven backtest against the full-tick backtest of the same days.

Prints figures; asserts nothing. Each run is ``run_backtest`` timed end to end (read, convert,
simulate, write the five files) in its own spawned process, so one run's imports and Nautilus
state cannot help another; runs are interleaved so machine noise hits every mode alike.

Printed per mode: wall time (the process's ``run_backtest`` call, Nautilus's import excluded;
that import is the same for both), bytes fetched from storage (footers included), ticks fed to
the engine, row groups read, orders and fills, and whether the orders and fills equal the
full run's. The desk's earlier design promised a 94% cut in I/O and 85% less wall time; the
figures here are what the code does on the demo data.

Usage: ``uv run python bench/bench_signal_driven.py [--data-root DIR] [--repeat N]
[--windows 300,60]`` (generates the demo data under artifacts/demo-data when missing).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_run(data_root: str, work_dir: str, mode: str, window_secs: int) -> dict:
    """Run one backtest over the data set's whole period; return its figures."""
    import warnings

    warnings.simplefilter("ignore")
    import polars as pl

    from core.backtest.pipeline import run_backtest
    from core.config import (
        AppConfig,
        BacktestConfig,
        DataConfig,
        LoggingConfig,
        OmsConfig,
        ResultsConfig,
    )

    config = AppConfig(
        data=DataConfig(root=data_root),
        results=ResultsConfig(root=work_dir),
        backtest=BacktestConfig(mode=mode, window_secs=window_secs),
        logging=LoggingConfig(directory=str(Path(work_dir) / "logs")),
        oms=OmsConfig(database=str(Path(work_dir) / "oms.sqlite")),
    )
    started = time.perf_counter()
    outcome = run_backtest(config)
    seconds = time.perf_counter() - started
    if outcome.status != "COMPLETED":
        raise SystemExit(f"{mode} run failed: {outcome.error}")
    stats = outcome.summary["execution_stats"]
    folder = Path(outcome.folder)
    return {
        "seconds": seconds,
        "bytes_read": stats["bytes_read"],
        "ticks": stats["ticks_processed"],
        "row_groups_read": stats["row_groups_read"],
        "windows": stats.get("windows"),
        "bytes_in_files": stats.get("bytes_in_files"),
        "orders": pl.read_parquet(folder / "orders.parquet"),
        "fills": pl.read_parquet(folder / "fills.parquet"),
        "final_value": outcome.summary["final_value"],
    }


def _in_fresh_process(*args: object) -> dict:
    # ProcessPoolExecutor, not a Pool: a full run spawns its own conversion worker, which a
    # Pool's daemonic workers may not.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(one_run, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT / "artifacts" / "demo-data"))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median reported)")
    parser.add_argument("--windows", default="300,60", help="window_secs values to measure")
    args = parser.parse_args()
    if not (Path(args.data_root) / "raw_tick_data").exists():
        from core.data.demo_data import generate_demo_data

        print(f"generating demo data in {args.data_root} ...", flush=True)
        generate_demo_data(args.data_root)
    modes = [("full", 300)] + [("signals", int(w)) for w in args.windows.split(",")]
    runs: dict[tuple[str, int], list[dict]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.repeat):
            for mode, window in modes:
                folder = str(Path(work) / f"{mode}-{window}-{i}")
                runs[(mode, window)].append(_in_fresh_process(args.data_root, folder, mode, window))

    full = runs[("full", 300)]
    full_seconds = statistics.median(r["seconds"] for r in full)
    full_bytes = full[0]["bytes_read"]
    print(f"data: {args.data_root}, {args.repeat} run(s) each, medians")
    print(
        f"{'mode':<16}{'wall s':>8}{'vs full':>9}{'bytes read':>14}{'vs full':>9}"
        f"{'ticks':>11}{'row groups':>12}{'windows':>9}  same orders/fills as full"
    )
    for (mode, window), results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        first = results[0]
        same = first["orders"].equals(full[0]["orders"]) and first["fills"].equals(full[0]["fills"])
        label = "full" if mode == "full" else f"signals {window}s"
        print(
            f"{label:<16}{seconds:8.2f}{seconds / full_seconds - 1:+9.0%}"
            f"{first['bytes_read']:14,}{first['bytes_read'] / full_bytes - 1:+9.0%}"
            f"{first['ticks']:11,}{first['row_groups_read']:12,}"
            f"{first['windows'] if first['windows'] is not None else '':>9}"
            f"  {'yes' if same else 'no'} (final value {first['final_value']:,.2f})"
        )
    in_files = runs[modes[1]][0]["bytes_in_files"]
    print(f"day files of the period (metadata): {in_files:,} bytes; full run read {full_bytes:,}")


if __name__ == "__main__":
    main()
