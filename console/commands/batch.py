"""``trade-console batch``: a grid of backtests on Dask, a line per finished run, then a table;
with ``--schedule "daily HH:MM"``, the T+1 job running that grid over yesterday every day.

The grid is read and every point's config checked before any worker starts (a bad grid file is
one line, exit 2). While the batch runs, fds 1 and 2 point at the batch log: the spawned Dask
workers inherit them, so neither Nautilus nor Dask writes to the terminal; lines, the progress
bar (on a terminal) and the table are drawn on a saved copy of the terminal.
"""

from __future__ import annotations

import argparse
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from console.logs import log_to_file
from core.errors import ConfigError
from core.fd_capture import redirect_std_fds
from core.runs.batch_grid import GridPoint, load_grid
from core.runs.batch_schedule import (
    DailySchedule,
    over_period,
    parse_schedule,
    run_schedule,
    stop_on_signals,
    utc_now,
    yesterday,
)

if TYPE_CHECKING:
    from core.runs.batch import RunProgress, RunResult

_TABLE_WIDTH = 160  # off a terminal Rich would wrap at 80 and split grid points over lines


def run_batch_command(args: argparse.Namespace) -> int:
    """Run the grid; exit 0 when every point COMPLETED, 1 otherwise.

    With ``--schedule "daily HH:MM"``, run it over yesterday every day instead (see
    ``core.runs.batch_schedule``) until SIGTERM/SIGINT, then exit 0. With ``--yesterday``, run it
    once over yesterday (UTC): the T+1 job for cron or a systemd timer.
    """
    text = getattr(args, "schedule", None)
    schedule = parse_schedule(text) if text is not None else None  # bad text: before anything
    once = bool(getattr(args, "yesterday", False))
    if schedule is None and getattr(args, "now", False):
        raise ConfigError("--now: only with --schedule (a plain batch already runs at once)")
    if schedule is not None and once:
        raise ConfigError("--yesterday: not with --schedule (every scheduled run is yesterday's)")
    points = load_grid(args.grid, getattr(args, "config", None))
    log_to_file(points[0].config)  # gcsfs's retry tracebacks go to the log, never the terminal
    if schedule is not None:
        if args.workers < 1:  # refused now, not in a log line every night
            raise ConfigError(f"--workers: must be at least 1, got {args.workers}")
        return _run_scheduled(schedule, points, args)
    if once:
        points = over_period(points, *yesterday(utc_now()))
    log_dir = Path(points[0].config.logging.directory)
    log_path = log_dir / "trade-console-batch.log"
    started = time.perf_counter()
    with redirect_std_fds(log_path) as terminal, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' per-run deprecation noise
        results = _run(points, args, terminal)
    wall = time.perf_counter() - started
    console = Console(width=_TABLE_WIDTH) if not Console().is_terminal else Console()
    console.print(summary_table(results, wall))
    failed = [r for r in results if r.status != "COMPLETED"]
    for result in failed:
        console.print(
            f"FAILED #{result.point.index} {result.run_id}: {result.error}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    console.print(f"batch log: {log_path}", soft_wrap=True, markup=False, highlight=False)
    return 1 if failed else 0


def _run_scheduled(
    schedule: DailySchedule, points: list[GridPoint], args: argparse.Namespace
) -> int:
    # fds 1/2 go to the batch log for the whole life of the job (workers are spawned per run
    # and inherit them); the schedule's own lines, stamped, go to the saved terminal (or the
    # journal, under systemd).
    log_path = Path(points[0].config.logging.directory) / "trade-console-batch.log"
    with (
        redirect_std_fds(log_path) as terminal,
        warnings.catch_warnings(),
        stop_on_signals() as sleep,
    ):
        warnings.simplefilter("ignore")

        def log(line: str) -> None:
            terminal.write(f"{utc_now():%Y-%m-%dT%H:%M:%SZ} {line}\n")
            terminal.flush()

        log(f"batch log: {log_path}")
        run_schedule(
            schedule,
            points,
            lambda day: _run(day, args, terminal),
            log,
            now=utc_now,
            sleep=sleep,
            run_now=bool(getattr(args, "now", False)),
        )
    return 0


def _run(points: list[GridPoint], args: argparse.Namespace, terminal: TextIO) -> list[RunResult]:
    from core.runs.batch import run_batch  # imports Dask: not before the grid has been checked

    console = Console(file=terminal, width=None if terminal.isatty() else _TABLE_WIDTH)
    total = len(points)
    finished = 0

    def line(result: RunResult, again: bool) -> str:
        what = "retrying" if again else f"{finished}/{total}"
        pnl = "" if result.net_pnl is None else f" net PnL {result.net_pnl:,.2f}"
        error = f": {result.error}" if result.error else ""
        return (
            f"[{what}] #{result.point.index} {result.run_id or '-'} {result.status}"
            f" (try {result.attempts}, {result.wall_seconds:.1f} s){pnl}"
            f"  {result.point.label}{error}"
        )

    if not console.is_terminal:

        def on_result(result: RunResult, again: bool) -> None:
            nonlocal finished
            finished += 0 if again else 1
            console.print(line(result, again), soft_wrap=True, markup=False, highlight=False)

        return run_batch(
            points, scheduler=args.scheduler, workers=args.workers, on_result=on_result
        )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        overall = bar.add_task(f"batch of {total}", total=total)
        running: dict[tuple[int, int], TaskID] = {}  # (point, attempt) -> its bar
        ended: set[tuple[int, int]] = set()  # a late event must not bring a bar back
        lock = threading.Lock()  # events arrive on Dask's thread, results on this one

        def on_progress(update: RunProgress) -> None:
            attempt = (update.index, update.attempt)
            with lock:
                if attempt in ended:
                    return
                task = running.get(attempt)
                if task is None:
                    label = f"  #{update.index} {points[update.index].label}"
                    task = running[attempt] = bar.add_task(label)
            done, size = (update.done, update.total) if update.phase == "running" else (1, 1)
            bar.update(task, completed=done, total=max(size, 1))

        def on_result(result: RunResult, again: bool) -> None:
            nonlocal finished
            finished += 0 if again else 1
            with lock:
                attempt = (result.point.index, result.attempts)
                ended.add(attempt)
                task = running.pop(attempt, None)
            if task is not None:
                bar.remove_task(task)
            bar.console.print(line(result, again), soft_wrap=True, markup=False, highlight=False)
            bar.update(overall, completed=finished)

        return run_batch(
            points,
            scheduler=args.scheduler,
            workers=args.workers,
            on_result=on_result,
            on_progress=on_progress,
        )


def summary_table(results: list[RunResult], wall_seconds: float) -> Table:
    """Every point's run id, grid point, status, tries, net PnL and wall time."""
    done = sum(r.status == "COMPLETED" for r in results)
    table = Table(
        title=f"batch: {done}/{len(results)} completed in {wall_seconds:.1f} s", show_lines=False
    )
    for name, justify in (
        ("#", "right"),
        ("run id", "left"),
        ("grid point", "left"),
        ("status", "left"),
        ("tries", "right"),
        ("net PnL", "right"),
        ("wall s", "right"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in results:
        table.add_row(
            str(r.point.index),
            r.run_id or "-",
            r.point.label,
            r.status,
            str(r.attempts),
            "n/a" if r.net_pnl is None else f"{r.net_pnl:,.2f}",
            f"{r.wall_seconds:.1f}",
        )
    return table
