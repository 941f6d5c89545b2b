"""``trade-console backtest``: one backtest with a progress bar, its summary as a table."""

from __future__ import annotations

import argparse
import asyncio
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from core.config import AppConfig, load_config, validate
from core.fd_capture import redirect_std_fds

if TYPE_CHECKING:
    from core.backtest import BacktestOutcome
    from core.backtest import Progress as RunProgress

_PHASES = {"running": "simulating", "writing": "writing results"}


def apply_overrides(config: AppConfig, args: argparse.Namespace) -> AppConfig:
    """The config with the command line's options laid over it, validated again."""
    backtest = config.backtest
    changes = {
        "start": args.start,
        "end": args.end,
        "targets": args.targets,
        # --mode/--window-secs: getattr, so a parser without them (an older cli.py) still works
        "mode": getattr(args, "mode", None),
        "window_secs": getattr(args, "window_secs", None),
        "instruments": (
            tuple(i.strip() for i in args.instruments.split(",") if i.strip())
            if args.instruments
            else None
        ),
    }
    backtest = msgspec.structs.replace(
        backtest, **{k: v for k, v in changes.items() if v is not None}
    )
    data = msgspec.structs.replace(config.data, root=args.data_root or config.data.root)
    results = msgspec.structs.replace(config.results, root=args.results_root or config.results.root)
    merged = msgspec.structs.replace(config, backtest=backtest, data=data, results=results)
    return validate(merged, "command line")


def run_backtest_command(args: argparse.Namespace) -> int:
    """Run the backtest; exit 0 when COMPLETED, 1 when FAILED (the folder says why)."""
    config = apply_overrides(load_config(getattr(args, "config", None)), args)
    log_path = Path(config.logging.directory) / "trade-console-backtest.log"
    # Nautilus writes to fds 1/2 directly: send them to the log and draw on the saved terminal.
    with redirect_std_fds(log_path) as terminal, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' per-run deprecation noise
        console = Console(file=terminal, stderr=False)
        outcome = _run_with_progress(config, console)
    console = Console()
    _print_outcome(outcome, console)
    if config.results.upload_root and outcome.folder:
        _upload(config, outcome, console)
    return 0 if outcome.status == "COMPLETED" else 1


def _upload(config: AppConfig, outcome: BacktestOutcome, console: Console) -> None:
    # A failed run is uploaded too: its summary says why. What does not go up within
    # [uploads] wait_secs stays queued in the OMS; the exit code is the run's, not the upload's.
    from core.uploads import upload_run

    summary = asyncio.run(upload_run(config, outcome.folder, outcome.run_id))
    where = f"{config.results.upload_root.rstrip('/')}/backtest_results/{outcome.run_id}/"
    if summary.complete:
        console.print(f"uploaded to {where} ({summary.done} files)", soft_wrap=True, markup=False)
        return
    errors = Console(stderr=True, soft_wrap=True)
    errors.print(
        f"warning: uploads to {where} not finished: {summary.done} done, {summary.pending} "
        f"queued, {summary.failed} failed; `trade-console uploads` shows them and retries",
        markup=False,
    )


def _run_with_progress(config: AppConfig, console: Console) -> BacktestOutcome:
    # Imported here: Nautilus takes seconds to import, and a bad config should not wait.
    from core.backtest import run_backtest

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[ticks]:>12,} ticks"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("preparing", total=None, ticks=0)

        def on_progress(progress: RunProgress) -> None:
            bar.update(
                task,
                description=_PHASES.get(progress.phase, progress.phase),
                completed=progress.done,
                total=progress.total,
                ticks=progress.ticks,
            )

        return run_backtest(config, progress=on_progress)


def _print_outcome(outcome: BacktestOutcome, console: Console) -> None:
    # soft_wrap: Rich wraps at 80 columns when output is not a terminal, which would split the
    # one-line error and the folder path over several lines; markup=False because an error or a
    # path may hold brackets Rich would take for tags.
    if outcome.status != "COMPLETED":
        errors = Console(stderr=True, soft_wrap=True)
        errors.print(Text.assemble(("FAILED", "bold red"), f" {outcome.run_id}: {outcome.error}"))
        console.print(f"result folder: {outcome.folder}", soft_wrap=True, markup=False)
        return
    summary = outcome.summary
    table = Table(title=f"{outcome.run_id}  COMPLETED", show_header=True)
    table.add_column("section")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for section in ("pnl", "metrics", "execution_stats"):
        for key, value in summary.get(section, {}).items():
            table.add_row(section, key, _format(value))
    console.print(table)
    console.print(f"result folder: {outcome.folder}", soft_wrap=True, markup=False)
    oms_note = summary.get("execution_stats", {}).get("oms")
    if oms_note:  # the run completed, but the dashboard will not show it
        errors = Console(stderr=True, soft_wrap=True)
        errors.print(f"warning: not recorded in the OMS: {oms_note}", markup=False)


def _format(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):  # before int: a bool is an int and would print as 1 or 0
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
