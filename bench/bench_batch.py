"""Benchmark: batch throughput on Dask with 1 and 2 worker processes, on the demo data.

Prints figures; asserts nothing. The grid (through ``load_grid``, as the command reads it):
both instruments, the demo's three days cut into ``--slices`` periods each, in full-tick and in
signal-driven mode. For each worker count a ``LocalCluster`` of spawned processes (one thread
each, as ``run_batch`` starts it) is started, every worker imports Nautilus (timed apart: a
once-per-worker cost), then ``run_batch`` runs the grid through the cluster's address and its
wall time is taken. Printed: runs/s and ticks/s per mode, the speed-up from 1 to 2 workers,
the median per-run wall time and each worker's peak memory; then a projection from those
per-run costs to 100+ backtests (the 5-year run is ``bench_five_years.py``'s). Then where
the speed-up short of 2x goes (from the scheduler's task stream): contention (each task's
time beside another against alone), the workers' idle head, hand-over gaps between tasks and
the tail (the last task running alone); the load average is printed beside each figure.

Usage: ``uv run python bench/bench_batch.py [--data-root DIR] [--slices N] [--workers 1,2]``
(generates the demo data under artifacts/demo-data when missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAYS = ("2026-01-05", "2026-01-06", "2026-01-07")
INSTRUMENTS = '[["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]]'


def _import_backtest() -> float:
    started = time.perf_counter()
    import core.backtest.pipeline  # noqa: F401  (Nautilus: seconds, once per worker process)

    return time.perf_counter() - started


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_grid(work: Path, data_root: str, mode: str, slices: int) -> Path:
    """A grid of ``slices`` equal periods per demo day, in ``mode``."""
    step = dt.timedelta(hours=24 / slices)
    starts = [
        dt.datetime.fromisoformat(f"{day}T00:00:00+00:00") + i * step
        for day in DAYS
        for i in range(slices)
    ]
    periods = [f'{{start = "{s.isoformat()}", end = "{(s + step).isoformat()}"}}' for s in starts]
    (work / "base.toml").write_text(
        f'[data]\nroot = "{data_root}"\n[results]\nroot = "{work / "results"}"\n'
        f'[logging]\ndirectory = "{work / "logs"}"\n[oms]\ndatabase = "{work / "oms.sqlite"}"\n'
    )
    grid = work / f"grid-{mode}.toml"
    grid.write_text(
        f'config = "base.toml"\ninstruments = {INSTRUMENTS}\nmode = ["{mode}"]\n'
        f"periods = [{', '.join(periods)}]\n"
    )
    return grid


def task_spans(records: list[dict]) -> dict[int, tuple[str, float, float]]:
    """Each backtest task's (worker, compute start, compute stop), by grid point index, from
    the scheduler's task stream (wall-clock seconds; the workers share this machine's clock)."""
    spans = {}
    for record in records:
        for part in record.get("startstops", ()):
            if part["action"] == "compute":
                index = int(str(record["key"]).split("-")[-2])  # backtest-<batch>-<index>-try<n>
                spans[index] = (record["worker"], part["start"], part["stop"])
    return spans


def breakdown(mode: dict) -> dict[str, float]:
    """Where a batch's worker-seconds went: in tasks, before each worker's first task (head),
    between its tasks (hand-over: result back, next task dispatched) and after its last one
    until the batch returned (tail: the last task running alone, and the batch's own end)."""
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for worker, start, stop in mode["tasks"].values():
        by_worker.setdefault(worker, []).append((start, stop))
    end = mode["began"] + mode["wall_s"]
    parts = {"tasks": 0.0, "head": 0.0, "gaps": 0.0, "tail": 0.0}
    for spans in by_worker.values():
        spans.sort()
        parts["tasks"] += sum(stop - start for start, stop in spans)
        parts["head"] += spans[0][0] - mode["began"]
        parts["gaps"] += sum(b[0] - a[1] for a, b in itertools.pairwise(spans))
        parts["tail"] += end - spans[-1][1]
    return parts


def measure(workers: int, grids: dict[str, Path]) -> dict:
    """Start a cluster of ``workers``, warm it, run each grid; return the figures."""
    from distributed import Client, get_task_stream

    from core.runs.batch import local_cluster, run_batch
    from core.runs.batch_grid import load_grid

    figures: dict = {"workers": workers}
    started = time.perf_counter()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        figures["cluster_start_s"] = time.perf_counter() - started
        figures["import_s"] = max(client.run(_import_backtest).values())
        for mode, grid in grids.items():
            points = load_grid(grid)
            cpu = sum(client.run(_cpu_seconds).values())
            began, began_epoch = time.perf_counter(), time.time()
            with get_task_stream(client) as stream:
                results = run_batch(points, scheduler=cluster.scheduler_address)
            wall = time.perf_counter() - began
            cpu = sum(client.run(_cpu_seconds).values()) - cpu
            failed = [r.error for r in results if r.status != "COMPLETED"]
            if failed:
                raise SystemExit(f"{mode}: {len(failed)} runs failed: {failed[0]}")
            ticks = 0
            for r in results:
                summary = json.loads((Path(r.folder) / "summary.json").read_text())
                ticks += summary["execution_stats"]["ticks_processed"]
            figures[mode] = {
                "runs": len(results),
                "wall_s": wall,
                "runs_per_s": len(results) / wall,
                "ticks": ticks,
                "ticks_per_s": ticks / wall,
                "run_wall_median_s": statistics.median(r.wall_seconds for r in results),
                # The share of the workers' wall time spent inside a backtest: what is lost
                # to dispatch, result hand-back and the idle tail of the last runs.
                "busy": sum(r.wall_seconds for r in results) / (wall * workers),
                "worker_cores": cpu / wall,  # CPU seconds of all workers per second of wall
                "tasks": task_spans(stream.data),
                "began": began_epoch,
                "load": os.getloadavg(),
            }
        figures["peak_rss_mb"] = max(client.run(_peak_rss_mb).values())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT / "artifacts" / "demo-data"))
    parser.add_argument("--slices", type=int, default=4, help="periods per day (default 4)")
    parser.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if not (Path(args.data_root) / "raw_tick_data").exists():
        from core.data.demo_data import generate_demo_data

        generate_demo_data(args.data_root)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        grids = {m: write_grid(work, args.data_root, m, args.slices) for m in ("full", "signals")}
        from core.fd_capture import redirect_std_fds

        rows = []
        for count in (int(w) for w in args.workers.split(",")):
            with redirect_std_fds(work / "logs" / "bench.log") as terminal:
                figures = measure(count, grids)
                print(f"measured {count} worker(s)", file=terminal, flush=True)
            rows.append(figures)
    report(rows, args.slices)


def report(rows: list[dict], slices: int) -> None:
    """The table, the speed-up and the projection, from the measured figures."""
    print(
        f"\nbatch of {len(DAYS) * slices} runs per mode ({24 // slices} h periods, 2 instruments)"
    )
    print(
        "workers | mode    | runs | batch wall | runs/s | ticks/s   | run p50 | cores used"
        " | in a run"
    )
    for row in rows:
        for mode in ("full", "signals"):
            m = row[mode]
            print(
                f"{row['workers']:7d} | {mode:7s} | {m['runs']:4d} | {m['wall_s']:8.2f} s "
                f"| {m['runs_per_s']:6.2f} | {m['ticks_per_s']:9,.0f} "
                f"| {m['run_wall_median_s']:5.2f} s | {m['worker_cores']:10.2f} "
                f"| {m['busy']:6.0%}"
            )
        print(
            f"        cluster start {row['cluster_start_s']:.2f} s, "
            f"Nautilus import per worker {row['import_s']:.2f} s, "
            f"peak RSS per worker {row['peak_rss_mb']:.0f} MB"
        )
    one = next((r for r in rows if r["workers"] == 1), None)
    two = next((r for r in rows if r["workers"] == 2), None)
    if one is None or two is None:
        return
    for mode in ("full", "signals"):
        ratio = two[mode]["runs_per_s"] / one[mode]["runs_per_s"]
        print(
            f"speed-up 1 -> 2 workers, {mode}: {ratio:.2f}x (target 1.8x); load average (1 min)"
            f" {one[mode]['load'][0]:.1f} after the 1-worker batch,"
            f" {two[mode]['load'][0]:.1f} after the 2-worker one"
        )
        report_remainder(mode, one[mode], two[mode])
    full_day = one["full"]["run_wall_median_s"] * slices  # one worker, no contention
    rss = two["peak_rss_mb"]
    print(
        "\nprojection (per-run cost measured above, one worker process per core):\n"
        f"- one demo day (800k trades) costs {full_day:.1f} s full-tick in one worker; a worker "
        f"peaks at {rss:.0f} MB.\n"
        f"- 100 concurrent 1-day full-tick backtests: {100 * full_day / 2 / 60:.1f} min on these "
        f"2 cores; on a 32-core host {100 * full_day / 32 / 60:.1f} min and {32 * rss / 1024:.1f}"
        f" GB for 32 workers (100 at once would need {100 * rss / 1024:.0f} GB: queue them).\n"
        "- a 5-year signal-driven backtest is one path-dependent run, measured by "
        "bench/bench_five_years.py.\n"
    )


def report_remainder(name: str, one: dict, two: dict) -> None:
    """Where the speed-up short of 2x goes: contention (the same tasks take longer beside each
    other), head, hand-over gaps and the tail, in seconds of the 2-worker batch's wall."""
    a, b = breakdown(one), breakdown(two)
    pairs = [
        (one["tasks"][i][2] - one["tasks"][i][1], span[2] - span[1])
        for i, span in two["tasks"].items()
        if i in one["tasks"]
    ]
    per_task = statistics.median(beside / alone for alone, beside in pairs) if pairs else 0.0
    ideal = one["wall_s"] / 2
    print(
        f"  {name}: 1 worker {one['wall_s']:.2f} s = tasks {a['tasks']:.2f} + head {a['head']:.2f}"
        f" + gaps {a['gaps']:.2f} + tail {a['tail']:.2f} s; 2 workers {two['wall_s']:.2f} s ="
        f" (tasks {b['tasks']:.2f} + head {b['head']:.2f} + gaps {b['gaps']:.2f} + tail"
        f" {b['tail']:.2f}) / 2 worker-seconds"
    )
    # Each part: the 2-worker batch's, less half the 1-worker batch's; they sum to the excess.
    print(
        f"  {name}: {two['wall_s'] - ideal:+.2f} s over half the 1-worker wall = contention"
        f" {(b['tasks'] - a['tasks']) / 2:+.2f} s (a task takes {per_task:.2f}x its time alone,"
        f" median) + head {(b['head'] - a['head']) / 2:+.2f} s + hand-over gaps"
        f" {(b['gaps'] - a['gaps']) / 2:+.2f} s + tail {(b['tail'] - a['tail']) / 2:+.2f} s"
    )


if __name__ == "__main__":
    main()
