"""Benchmark: a 5-year signal-driven backtest, end to end, with its memory sampled throughout.

Prints figures; asserts nothing. Three measurements, each ``run_backtest`` in its own spawned
process (as the desk's ``backtest`` command runs it; Nautilus's import is not in the timed
call), in signal-driven mode (``[backtest] mode = "signals"``, 300 s windows):

1. **Per-day cost at the demo's volume** (800k trades a day, the 3 demo days): the first day
   alone, then all three, so the cost of a day is a measured line, a fixed cost per run plus
   a cost per day (and per signal window), not a guess.
2. The same two runs on the first days of the 5-year data (its lower volume): the per-day cost
   at that volume, to compare with the 5-year run's own (growth with the period's length).
3. **The 5-year run** (1,826 days of generated data, see ``--trades-per-day``) in every-signal
   mode (and, with ``--fetch``, direction-change mode), timed end to end. A sampler thread in
   this process reads the run's RSS (the process and any child of it) every
   ``--sample-secs`` and the run's progress (simulated time), and prints RSS at the start,
   middle and end of the simulation, its peak, and the slope (least squares, MB per simulated
   year), plus the simulated days per wall second through the run (flat = no slow-down).

The projection to the desk's volume: the 5-year run's wall time scaled by the ratio of the
per-day cost at demo volume to the per-day cost at the 5-year data's volume (both from the
marginal per-day costs of step 1 and 2), printed beside the measured run.

The 5-year data is generated once under ``artifacts/five-years-data`` (``demo-data``'s
generator, same seed and walk, a day's volume set by ``--trades-per-day``; about 1.2 MB a day,
2.1 GB in all, ~6 minutes) and reused while its ``generated.json`` matches the arguments;
``--delete-data`` removes it after the run.

Usage: ``uv run python bench/bench_five_years.py [--days 1826] [--trades-per-day 45000,35000]
[--fetch every-signal,direction-change] [--demo-root DIR] [--data-root DIR] [--skip-demo]
[--sample-secs 1] [--delete-data]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_DAY = dt.date(2021, 1, 1)
DEMO_FIRST_DAY = dt.date(2026, 1, 5)  # core.data.demo_data's default
INSTRUMENTS = ("BTCUSDT.BINANCE", "ETHUSDT.BINANCE")
GOAL_MINUTES = 30.0
MB = 1024 * 1024


def run_child(data_root: str, work: str, start: str, end: str, fetch: str, shared: dict) -> None:
    """The backtest, in a spawned process: ``run_backtest`` over ``[start, end)``.

    Writes the figures to ``shared["result"]`` (a queue) and keeps ``shared["progress"]``
    (simulated fraction done) and ``shared["phase"]`` (0 importing, 1 running, 2 done) current
    for the sampler.
    """
    import warnings

    warnings.simplefilter("ignore")
    import msgspec

    from core.backtest.pipeline import Progress, run_backtest
    from core.config import AppConfig

    settings = {
        "data": {"root": data_root},
        "results": {"root": work},
        "backtest": {"mode": "signals", "fetch": fetch, "start": start, "end": end},
        "logging": {"directory": str(Path(work) / "logs")},
        "oms": {"database": str(Path(work) / "oms.sqlite")},
    }
    config = msgspec.convert(settings, AppConfig)  # window_secs: the default, 300 s

    def progress(update: Progress) -> None:
        if update.phase == "running" and update.total:
            shared["progress"].value = update.done / update.total
        elif update.phase == "writing":
            shared["progress"].value = 1.0

    shared["phase"].value = 1
    started = time.perf_counter()
    outcome = run_backtest(config, progress)
    seconds = time.perf_counter() - started
    shared["phase"].value = 2
    if outcome.status != "COMPLETED":
        shared["result"].put({"error": outcome.error})
        return
    stats = outcome.summary["execution_stats"]
    folder = Path(outcome.folder)
    import pyarrow.parquet as pq

    shared["result"].put(
        {
            "seconds": seconds,
            "ticks": stats["ticks_processed"],
            "bytes_read": stats["bytes_read"],
            "windows": stats["windows"],
            "signals": stats["signals"],
            "fetched": stats["signals_fetched"],
            "orders": pq.read_metadata(folder / "orders.parquet").num_rows,
            "fills": pq.read_metadata(folder / "fills.parquet").num_rows,
            "equity_points": pq.read_metadata(folder / "equity_curve.parquet").num_rows,
            "final_value": outcome.summary["final_value"],
            "late_orders": len(stats.get("orders_filled_after_their_window", [])),
        }
    )


@dataclass
class Run:
    """One measured run: its figures and the sampler's (wall s, RSS MB, simulated fraction)."""

    label: str
    days: int
    figures: dict
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    wall: float = 0.0  # the whole child process, imports included
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at its start and end


def _tree_rss(pid: int) -> float:
    """RSS of the process and its children (a full run's conversion worker), in MB."""
    import psutil

    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total / MB


def measure(
    label: str,
    data_root: str,
    first_day: dt.date,
    days: int,
    fetch: str,
    sample_secs: float,
    work: Path,
) -> Run:
    """Run one backtest of ``days`` days from ``first_day`` in a spawned process, sampled."""
    context = multiprocessing.get_context("spawn")
    shared = {
        "progress": context.Value("d", 0.0),
        "phase": context.Value("i", 0),
        "result": context.Queue(),
    }
    start = dt.datetime.combine(first_day, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=days)
    folder = work / label.replace(" ", "-")
    folder.mkdir(parents=True, exist_ok=True)
    process = context.Process(
        target=run_child,
        args=(data_root, str(folder), start.isoformat(), end.isoformat(), fetch, shared),
    )
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    process.start()
    samples: list[tuple[float, float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            if shared["phase"].value == 1:
                rss = _tree_rss(process.pid)
                samples.append((time.perf_counter() - began, rss, shared["progress"].value))
            stop.wait(sample_secs)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = shared["result"].get()
    stop.set()
    sampler.join()
    process.join()
    if "error" in result:
        raise SystemExit(f"{label}: the run failed: {result['error']}")
    run = Run(label, days, result, samples, time.perf_counter() - began)
    run.load = (load_before, os.getloadavg()[0])
    shutil.rmtree(folder, ignore_errors=True)
    return run


def ensure_data(root: Path, days: int, trades: dict[str, int]) -> None:
    """Generate the multi-year data under ``root`` unless it is there with these arguments."""
    params = {"days": days, "seed": 7, "first_day": FIRST_DAY.isoformat(), "trades": trades}
    marker = root / "generated.json"
    if marker.exists():
        found = json.loads(marker.read_text())
        if found.pop("days", 0) >= days and found == {
            k: v for k, v in params.items() if k != "days"
        }:
            return  # a longer run's data holds a shorter one's: the walk is the same prefix
    from core.data.demo_data import generate_demo_data

    shutil.rmtree(root, ignore_errors=True)
    print(f"generating {days} days ({sum(trades.values()):,} trades a day) in {root} ...")
    started = time.perf_counter()
    generate_demo_data(str(root), days=days, seed=7, first_day=FIRST_DAY, trades_per_day=trades)
    marker.write_text(json.dumps(params))
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"generated in {time.perf_counter() - started:.0f} s, {size / MB:,.0f} MB")


def per_day(short: Run, long: Run) -> tuple[float, float]:
    """(fixed cost per run, marginal cost per day) from a short and a long run."""
    slope = (long.figures["seconds"] - short.figures["seconds"]) / (long.days - short.days)
    return short.figures["seconds"] - slope * short.days, slope


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    return statistics.linear_regression([x for x, _ in points], [y for _, y in points]).slope


def report_line(run: Run) -> None:
    f = run.figures
    print(
        f"{run.label:<34}{f['seconds']:9.1f} s{f['seconds'] / run.days:8.3f} s"
        f"{f['seconds'] / f['windows'] * 1000:8.1f} ms{f['ticks']:>14,}{f['windows']:>9,}"
        f"{f['orders']:>9,}{f['fills']:>10,}{f['equity_points']:>11,}"
        f"   {run.load[0]:.1f}-{run.load[1]:.1f}"
    )


def report_memory(run: Run) -> None:
    """RSS at the start, middle and end of the simulation, the peak, and the slopes."""
    running = [s for s in run.samples if 0.0 < s[2] < 1.0] or run.samples
    if not running:
        print(f"{run.label}: no memory sample (the run was shorter than a sample interval)")
        return
    peak = max(s[1] for s in run.samples)
    middle = min(running, key=lambda s: abs(s[2] - 0.5))
    years = run.days / 365.25
    per_year = _slope([(s[2] * years, s[1]) for s in running])
    print(
        f"{run.label}: RSS (process and children) at the simulation's start"
        f" {running[0][1]:,.0f} MB, middle {middle[1]:,.0f} MB, end {running[-1][1]:,.0f} MB,"
        f" peak {peak:,.0f} MB (results written); slope {per_year:+,.1f} MB per simulated year"
        f" ({len(run.samples)} samples)"
    )
    # Simulated days per wall second, by tenth of the period: a slow-down would show here.
    marks = []
    for tenth in range(1, 11):
        inside = [s for s in running if (tenth - 1) / 10 <= s[2] < tenth / 10]
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            rate = (inside[-1][2] - inside[0][2]) * run.days / (inside[-1][0] - inside[0][0])
            marks.append(f"{rate:.1f}")
        else:
            marks.append("-")
        if inside:
            marks[-1] += f" ({inside[-1][1]:,.0f} MB)"
    print(f"  simulated days per second (RSS) by tenth of the period: {', '.join(marks)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1826, help="days of the long run (5 years)")
    parser.add_argument(
        "--trades-per-day",
        default="45000,35000",
        help="BTC,ETH trades a day in the long run's data (the demo: 450000,350000)",
    )
    parser.add_argument("--fetch", default="every-signal", help="fetch modes of the long run")
    parser.add_argument("--data-root", default=str(ROOT / "artifacts" / "five-years-data"))
    parser.add_argument("--demo-root", default=str(ROOT / "artifacts" / "demo-data"))
    parser.add_argument("--skip-demo", action="store_true", help="no per-day runs (step 1, 2)")
    parser.add_argument("--sample-secs", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each short case (median)")
    parser.add_argument("--delete-data", action="store_true", help="remove the data after")
    args = parser.parse_args()
    trades = dict(zip(INSTRUMENTS, (int(n) for n in args.trades_per_day.split(",")), strict=True))
    if not (Path(args.demo_root) / "raw_tick_data").exists() and not args.skip_demo:
        from core.data.demo_data import generate_demo_data

        generate_demo_data(args.demo_root)
    ensure_data(Path(args.data_root), args.days, trades)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-five-years-") as tmp:
        work = Path(tmp)
        short: dict[tuple[str, int], Run] = {}
        if not args.skip_demo:
            cases = [
                (label, root, first, days)
                for label, root, first in (
                    ("demo volume", args.demo_root, DEMO_FIRST_DAY),
                    ("5-year data's volume", args.data_root, FIRST_DAY),
                )
                for days in (1, 3)
            ]
            tries: dict[tuple[str, int], list[Run]] = {}
            for _ in range(args.repeat):  # interleaved: load from elsewhere hits each alike
                for label, root, first, days in cases:
                    run = measure(
                        f"{label}, {days} day(s)", root, first, days, "every-signal", 1.0, work
                    )
                    tries.setdefault((label, days), []).append(run)
                    print(f"measured {run.label}: {run.figures['seconds']:.1f} s", flush=True)
            for key, measured in tries.items():
                run = measured[0]
                run.figures["seconds"] = statistics.median(r.figures["seconds"] for r in measured)
                run.load = (min(r.load[0] for r in measured), max(r.load[1] for r in measured))
                short[key] = run
                runs.append(run)
        long_runs = []
        for fetch in args.fetch.split(","):
            run = measure(
                f"{args.days} days, {fetch}",
                args.data_root,
                FIRST_DAY,
                args.days,
                fetch,
                args.sample_secs,
                work,
            )
            runs.append(run)
            long_runs.append(run)
            print(f"measured {run.label}: {run.figures['seconds']:.1f} s", flush=True)
    if args.delete_data:
        shutil.rmtree(args.data_root, ignore_errors=True)
    report(runs, long_runs, short, trades, args.days)


def report(
    runs: list[Run],
    long_runs: list[Run],
    short: dict[tuple[str, int], Run],
    trades: dict[str, int],
    days: int,
) -> None:
    """The table, the memory through each long run, and the projection to the demo's volume."""
    print(
        f"\nsignal-driven, 300 s windows; long-run data {sum(trades.values()):,} trades a day"
        f" ({', '.join(f'{k} {v:,}' for k, v in trades.items())}); demo 800,000 a day"
    )
    print(
        f"{'run':<34}{'run_backtest':>11}{'per day':>10}{'per window':>11}{'ticks fed':>14}"
        f"{'windows':>9}{'orders':>9}{'fills':>10}{'equity pts':>11}   load (1 min)"
    )
    for run in runs:
        report_line(run)
    print()
    for run in long_runs:
        f = run.figures
        verdict = "met" if f["seconds"] / 60 < GOAL_MINUTES else "NOT met"
        print(
            f"{run.label}: {f['seconds'] / 60:.1f} min in run_backtest, {run.wall / 60:.1f} min"
            f" for the process (imports included); goal < {GOAL_MINUTES:.0f} min: {verdict};"
            f" {f['fetched']:,}/{f['signals']:,} signals fetched, {f['bytes_read'] / MB:,.0f} MB"
            f" read, final value {f['final_value']:,.2f}, {f['late_orders']} order(s) filled"
            " after their window"
        )
        report_memory(run)
    if not short or not long_runs:
        return
    demo_fixed, demo_day = per_day(short[("demo volume", 1)], short[("demo volume", 3)])
    low_fixed, low_day = per_day(
        short[("5-year data's volume", 1)], short[("5-year data's volume", 3)]
    )
    print(
        f"\nper-day cost (marginal, 1 -> 3 days): demo volume {demo_day:.3f} s a day"
        f" (+{demo_fixed:.2f} s a run), 5-year data's volume {low_day:.3f} s a day"
        f" (+{low_fixed:.2f} s a run)"
    )
    for run in long_runs:
        if not run.label.endswith("every-signal"):
            continue
        measured_day = (run.figures["seconds"] - low_fixed) / run.days
        projected = run.figures["seconds"] + run.days * (demo_day - low_day)
        print(
            f"{run.label}: {measured_day:.3f} s a day over the whole run"
            f" ({measured_day / low_day:.2f}x the 3-day run's at the same volume);"
            f" projected at demo volume: {projected / 60:.1f} min (measured run"
            f" {run.figures['seconds'] / 60:.1f} min + {run.days:,} days x"
            f" {demo_day - low_day:.3f} s the demo's extra volume costs a day)"
        )


if __name__ == "__main__":
    main()
