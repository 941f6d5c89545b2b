"""Benchmark: signal-driven backtests against the full-tick backtest of the same days.

Prints figures; asserts nothing. Each run is ``run_backtest`` timed end to end (read, convert,
simulate, write the five files) in its own spawned process, so one run's imports and Nautilus
state cannot help another; runs are interleaved so machine noise hits every mode alike.

Printed per mode: wall time (the process's ``run_backtest`` call, Nautilus's import excluded;
that import is the same for both), bytes fetched from storage (footers included), ticks fed to
the engine, row groups read, orders and fills, and whether the orders and fills equal the
full run's. The desk's design promised a 94% cut in I/O and 85% less wall time by fetching
ticks only when a signal changes direction (``fetch = "direction-change"``); the figures here
are what the code does on the demo data, printed beside those goals.

The demo's signals are long-only and never flat, so they change no side after the first one:
direction-change mode then fetches a single window. To measure it with direction changes to
fetch, it also runs on a copy of the demo data whose signals publish every weight below
``--flat-below`` as 0 (flat), the trades and instruments files being the demo's own (linked):
the same bytes to read, fewer decisions.

Usage: ``uv run python bench/bench_signal_driven.py [--data-root DIR] [--repeat N]
[--windows 300,60] [--flat-below 0.1]`` (generates the demo data under artifacts/demo-data when
missing).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


GOAL_BYTES, GOAL_SECONDS = -0.94, -0.85  # direction-change against full (issue 18)


@dataclass(frozen=True)
class Case:
    """One configuration measured: data root, mode, window and fetch (``note``: which signals)."""

    data_root: str
    mode: str
    window_secs: int = 300
    fetch: str = "every-signal"
    note: str = ""

    @property
    def label(self) -> str:
        if self.mode == "full":
            return "full"
        kind = "dir-change" if self.fetch == "direction-change" else "signals"
        return f"{kind} {self.window_secs}s{self.note}"


def one_run(data_root: str, work_dir: str, mode: str, window_secs: int, fetch: str) -> dict:
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
        backtest=BacktestConfig(mode=mode, window_secs=window_secs, fetch=fetch),
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
        "signals": stats["signals"],
        "fetched": stats.get("signals_fetched", stats["signals"]),
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


def with_flats(data_root: str, folder: Path, below: float) -> str:
    """A data root whose signals say flat (0) wherever the demo's weight is below ``below``;
    its trades and instruments are the demo's own files, linked."""
    import polars as pl

    root = folder / "flat-signals"
    for name in ("raw_tick_data", "instrument_availability"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(Path(data_root) / name)
    for path in sorted((Path(data_root) / "signals").rglob("*.parquet")):
        frame = pl.read_parquet(path)
        weight = pl.col("target_weight")
        frame = frame.with_columns(
            pl.when(weight < below).then(0.0).otherwise(weight).alias("target_weight")
        )
        target = root / path.relative_to(data_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(target)
    return str(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT / "artifacts" / "demo-data"))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median reported)")
    parser.add_argument("--windows", default="300,60", help="window_secs values to measure")
    parser.add_argument(
        "--flat-below",
        type=float,
        default=0.1,
        help="direction-change mode also on the demo's signals with weights below this made flat",
    )
    args = parser.parse_args()
    if not (Path(args.data_root) / "raw_tick_data").exists():
        from core.data.demo_data import generate_demo_data

        print(f"generating demo data in {args.data_root} ...", flush=True)
        generate_demo_data(args.data_root)
    with tempfile.TemporaryDirectory() as work:
        flat_root = with_flats(args.data_root, Path(work), args.flat_below)
        flats = f", flat<{args.flat_below:g}"
        cases = [
            Case(args.data_root, "full"),
            *(Case(args.data_root, "signals", int(w)) for w in args.windows.split(",")),
            Case(args.data_root, "signals", 300, "direction-change"),
            Case(flat_root, "signals", 300, "direction-change", flats),
            Case(flat_root, "signals", 300, note=flats),
        ]
        runs: dict[Case, list[dict]] = {case: [] for case in cases}
        for i in range(args.repeat):
            for n, case in enumerate(cases):
                folder = str(Path(work) / f"run-{n}-{i}")
                runs[case].append(
                    _in_fresh_process(
                        case.data_root, folder, case.mode, case.window_secs, case.fetch
                    )
                )
    report(runs, cases, args)


def report(runs: dict[Case, list[dict]], cases: list[Case], args: argparse.Namespace) -> None:
    """Print one line per case, against the full run, and the goals beside direction-change."""
    full = runs[cases[0]]
    full_seconds = statistics.median(r["seconds"] for r in full)
    full_bytes = full[0]["bytes_read"]
    print(f"data: {args.data_root}, {args.repeat} run(s) each, medians")
    print(
        f"{'mode':<30}{'wall s':>8}{'vs full':>9}{'bytes read':>14}{'vs full':>9}"
        f"{'ticks':>11}{'row groups':>12}{'windows':>9}{'fetched':>9}  same orders/fills as full"
    )
    for case in cases:
        results = runs[case]
        seconds = statistics.median(r["seconds"] for r in results)
        first = results[0]
        same = first["orders"].equals(full[0]["orders"]) and first["fills"].equals(full[0]["fills"])
        verdict = "yes" if same else "no"
        if case.data_root != cases[0].data_root:
            verdict = "n/a (other signals)"
        fetched = f"{first['fetched']}/{first['signals']}"
        goal = ""
        if case.fetch == "direction-change":
            goal = f"  goal: bytes {GOAL_BYTES:+.0%}, time {GOAL_SECONDS:+.0%}"
        print(
            f"{case.label:<30}{seconds:8.2f}{seconds / full_seconds - 1:+9.0%}"
            f"{first['bytes_read']:14,}{first['bytes_read'] / full_bytes - 1:+9.0%}"
            f"{first['ticks']:11,}{first['row_groups_read']:12,}"
            f"{first['windows'] if first['windows'] is not None else '':>9}{fetched:>9}"
            f"  {verdict} (final value {first['final_value']:,.2f}){goal}"
        )
    in_files = runs[cases[1]][0]["bytes_in_files"]
    print(f"day files of the period (metadata): {in_files:,} bytes; full run read {full_bytes:,}")


if __name__ == "__main__":
    main()
