"""Benchmark: what recording a backtest into the OMS costs, on SQLite and on PostgreSQL.

Prints figures; asserts nothing. ``run_backtest`` (the whole pipeline, as ``bench_backtest.py``
times it) runs on the demo data, each run in a fresh spawned process (``bench_backtest``'s
``_in_fresh_process``), interleaved so that machine noise hits all three alike, ``--repeat``
times each; medians are compared:

- off: ``[oms] record_backtests = false`` (the OMS, a SQLite file, gets the run's ``runs`` row
  only);
- sqlite: recording the run's orders, fills, positions and balances into a fresh SQLite file;
- postgresql: the same into a fresh database on a PostgreSQL 15 server the bench starts on
  127.0.0.1 (``bench/oms_backends.py``).

Each recording's cost is its median's excess over off's, as % of off's (goal, issue 19: < 3%
on PostgreSQL), in wall time and in CPU time (user + system of the run's process and of its
conversion worker). On a shared machine the CPU time is the steadier figure; it leaves out what
the PostgreSQL server spends, in a process of its own (on the desk, another machine). After
each recorded run its OMS is opened and its fills counted, beside the fills the run reports, so
a run that recorded nothing cannot pass for a cheap one. The CPU time of the OMS's own threads
(the background store's loop, SQLite's connection threads) is sampled too: the recording's
client-side work measured directly, which the run's total cannot resolve on a busy machine.

Usage: ``uv run python bench/bench_backtest_oms.py [--data-root DIR] [--repeat N]
[--backend sqlite,postgresql]`` (generates the demo data under ``artifacts/bench-data``, as
``bench_backtest.py`` does, when ``--data-root`` is not given).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_backtest import _in_fresh_process, _peak_rss_mb  # noqa: E402
from oms_backends import BenchDatabases, parse_backends  # noqa: E402

GOAL_PERCENT = 3.0


def _cpu_seconds() -> float:
    # This process's and its finished children's (the conversion worker's) user + system time.
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


OMS_THREADS = ("oms-background", "_connection_worker_thread")
"""Names (or parts) of the threads that write the OMS during a backtest."""


class ThreadCpu:
    """The CPU seconds of each of this process's threads, sampled until ``stop``.

    A thread's time is read from the system every 0.1 s, so a thread that ends loses at most
    its last 0.1 s.
    """

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.seconds: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-thread-cpu", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(0.1):
            for thread in threading.enumerate():
                if thread.native_id is not None:
                    self.names[thread.native_id] = thread.name
            for thread in self._process.threads():
                self.seconds[thread.id] = thread.user_time + thread.system_time

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def matching(self, parts: tuple[str, ...]) -> float:
        """CPU seconds of the threads whose names contain one of ``parts``."""
        return sum(
            seconds
            for tid, seconds in self.seconds.items()
            if any(part in self.names.get(tid, "") for part in parts)
        )


def recorded_run(data_root: str, work_dir: str, location: str, record: bool) -> dict:
    """Time ``run_backtest`` end to end, its OMS at ``location``; count the fills recorded."""
    import warnings

    warnings.simplefilter("ignore")
    from core.backtest.pipeline import run_backtest
    from core.config import AppConfig, DataConfig, LoggingConfig, OmsConfig, ResultsConfig
    from core.oms import OmsStore
    from core.oms.location import parse_location

    is_postgres = parse_location(location).is_postgres
    config = AppConfig(
        data=DataConfig(root=data_root),
        results=ResultsConfig(root=work_dir),
        logging=LoggingConfig(directory=str(Path(work_dir) / "logs")),
        oms=OmsConfig(
            url=location if is_postgres else "",
            database=str(Path(work_dir) / "oms.sqlite") if is_postgres else location,
            record_backtests=record,
        ),
    )
    threads = ThreadCpu()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    outcome = run_backtest(config)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    threads.stop()
    if outcome.status != "COMPLETED":
        raise SystemExit(f"backtest failed: {outcome.error}")

    async def count() -> dict[str, int]:
        async with await OmsStore.open(location, read_only=True) as store:
            return await store.counts()

    counts = asyncio.run(count())
    stats = outcome.summary["execution_stats"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "oms_cpu_seconds": threads.matching(OMS_THREADS),
        "ticks": stats["ticks_processed"],
        "fills": stats["fills"],
        "fills_recorded": counts["fills"],
        "oms_problem": stats.get("oms"),
        "peak_rss_mb": _peak_rss_mb(),
    }


def demo_data(data_root: str | None) -> str:
    """``--data-root``, or the demo data where ``bench_backtest.py`` keeps it (made if missing)."""
    if data_root is not None:
        return data_root
    root = ROOT / "artifacts" / "bench-data"
    if not (root / "raw_tick_data").exists():
        from core.data.demo_data import generate_demo_data

        print(f"generating demo data in {root} ...", flush=True)
        generate_demo_data(str(root))
    return str(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median reported)")
    parser.add_argument(
        "--backend", default="sqlite,postgresql", help="back ends, comma-separated (default both)"
    )
    args = parser.parse_args()
    data_root = demo_data(args.data_root)
    with BenchDatabases(parse_backends(args.backend)) as databases:
        variants = ["off", *databases.backends]
        runs: dict[str, list[dict]] = {variant: [] for variant in variants}
        for index in range(args.repeat):  # interleaved
            for variant in variants:
                work = databases.folder / f"{variant}-{index}"
                backend = "sqlite" if variant == "off" else variant
                location = databases.fresh(backend, f"backtest_{variant}")
                runs[variant].append(
                    _in_fresh_process(
                        recorded_run, data_root, str(work), location, variant != "off"
                    )
                )
                last = runs[variant][-1]
                print(
                    f"  run {index + 1} {variant:<10} {last['seconds']:6.2f} s "
                    f"(CPU {last['cpu_seconds']:6.2f} s, OMS threads "
                    f"{last['oms_cpu_seconds']:5.2f} s)  fills {last['fills']:,}, "
                    f"recorded {last['fills_recorded']:,}"
                    + (f"  ({last['oms_problem']})" if last["oms_problem"] else ""),
                    flush=True,
                )

    def median(variant: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[variant])

    off, off_cpu = median("off", "seconds"), median("off", "cpu_seconds")
    off_oms = median("off", "oms_cpu_seconds")
    first = runs["off"][0]
    print(
        f"data: {data_root} ({first['ticks']:,} ticks, {first['fills']:,} fills); "
        f"medians of {args.repeat}, interleaved"
    )
    print(
        f"  recording off ([oms] record_backtests = false): {off:7.2f} s, CPU {off_cpu:7.2f} s "
        f"(OMS threads {off_oms:.2f} s)"
    )
    for variant in variants[1:]:
        seconds, cpu = median(variant, "seconds"), median(variant, "cpu_seconds")
        oms = median(variant, "oms_cpu_seconds")
        peak = max(run["peak_rss_mb"] for run in runs[variant])
        print(
            f"  recording to {variant:<10}: {seconds:7.2f} s, "
            f"cost {100 * (seconds / off - 1):+5.1f}% of the run; "
            f"CPU {cpu:7.2f} s, cost {100 * (cpu / off_cpu - 1):+5.1f}% "
            f"(goal < {GOAL_PERCENT:g}%); OMS threads {oms:.2f} s, "
            f"{100 * (oms - off_oms) / off_cpu:+.1f}% of the run's CPU; peak {peak:.0f} MB"
        )


if __name__ == "__main__":
    main()
