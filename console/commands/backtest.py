"""``trade-console backtest``: one backtest with a progress bar, its summary as a table."""

from __future__ import annotations

import argparse
import asyncio
import typing
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from console.logs import log_to_file
from core.config import AppConfig, StrategyConfig, VenueConfig, load_config, validate
from core.errors import ConfigError
from core.fd_capture import redirect_std_fds

if TYPE_CHECKING:
    from core.backtest.pipeline import BacktestOutcome
    from core.backtest.pipeline import Progress as RunProgress

_PHASES = {"running": "simulating", "writing": "writing results"}
SOURCE = "command line"
"""How the messages of ``apply_overrides`` name where the bad value came from."""
STRATEGY_OPTIONS = ("min_trade_notional", "weight_tolerance", "cash_buffer")
"""``[strategy]`` fields with an option each (``--min-trade-notional`` ...)."""


def apply_overrides(config: AppConfig, args: argparse.Namespace) -> AppConfig:
    """The config with the command line's options laid over it, validated again.

    The console's launch form calls this too, with its fields as the options, so both refuse
    the same values with the same one-line message naming the config field. The strategy,
    venue and execution options arrive as text (the form's fields are text) and are read here,
    not by argparse, for that reason. Venue options apply to the first ``[[venues]]``.
    """
    backtest = config.backtest
    changes = {
        "start": args.start,
        "end": args.end,
        "targets": args.targets,
        # --mode/--window-secs/--fetch: getattr, so a parser without them (an older cli.py, the
        # console's launch form) still works
        "mode": getattr(args, "mode", None),
        "window_secs": getattr(args, "window_secs", None),
        "fetch": getattr(args, "fetch", None),
        "instruments": _instruments(args.instruments),
    }
    backtest = msgspec.structs.replace(
        backtest, **{k: v for k, v in changes.items() if v is not None}
    )
    data = msgspec.structs.replace(config.data, root=args.data_root or config.data.root)
    results = msgspec.structs.replace(config.results, root=args.results_root or config.results.root)
    merged = msgspec.structs.replace(
        config,
        backtest=backtest,
        data=data,
        results=results,
        strategy=_strategy(config.strategy, args),
        venues=_venues(config.venues, args),
    )
    merged = _execution(merged, args)
    return validate(merged, SOURCE)


def _instruments(option: str | None) -> tuple[str, ...] | None:
    # None or "": the config's instruments. A list of nothing (",") is a typo, not "every
    # instrument", which is what an empty tuple means.
    if option is None or not option.strip():
        return None
    instruments = tuple(i.strip() for i in option.split(",") if i.strip())
    if not instruments:
        raise ConfigError(f"{SOURCE}: backtest.instruments: {option!r} names no instrument")
    return instruments


def _strategy(strategy: StrategyConfig, args: argparse.Namespace) -> StrategyConfig:
    changes = {}
    for name in STRATEGY_OPTIONS:
        value = _number(getattr(args, name, None), f"strategy.{name}")
        if value is not None:
            changes[name] = value
    return msgspec.structs.replace(strategy, **changes)


def _venues(venues: tuple[VenueConfig, ...], args: argparse.Namespace) -> tuple[VenueConfig, ...]:
    if not venues:
        return venues  # validate() names the missing venue
    first = venues[0]
    changes: dict[str, object] = {}
    balances = getattr(args, "starting_balances", None)
    if balances is not None and str(balances).strip():
        changes["starting_balances"] = tuple(
            b.strip() for b in str(balances).split(",") if b.strip()
        )
    account_type = getattr(args, "account_type", None)
    if account_type is not None and str(account_type).strip():
        changes["account_type"] = _choice(first, "account_type", "venues.0", str(account_type))
    latency = _number(getattr(args, "latency_ms", None), "venues.0.latency_ms")
    if latency is not None:
        changes["latency_ms"] = latency
    return (msgspec.structs.replace(first, **changes), *venues[1:])


def _execution(config: AppConfig, args: argparse.Namespace) -> AppConfig:
    algorithm = getattr(args, "algorithm", None)
    if algorithm is None or not str(algorithm).strip():
        return config
    execution = config.execution
    chosen = _choice(execution, "algorithm", "execution", str(algorithm))
    return msgspec.structs.replace(
        config, execution=msgspec.structs.replace(execution, algorithm=chosen)
    )


def _number(value: object, field: str) -> float | None:
    """An option's number (text from the form or the command line); None when not given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{SOURCE}: {field}: {value!r} is not a number") from None


def _choice(struct: msgspec.Struct, name: str, section: str, value: str) -> str:
    """``value`` if it is one of the field's ``Literal`` choices, else the one-line error."""
    (info,) = [f for f in msgspec.structs.fields(struct) if f.name == name]
    choices = typing.get_args(info.type)
    value = value.strip()
    if value not in choices:
        raise ConfigError(
            f"{SOURCE}: {section}.{name}: must be one of {', '.join(choices)}, got {value!r}"
        )
    return value


def run_backtest_command(args: argparse.Namespace) -> int:
    """Run the backtest; exit 0 when COMPLETED, 1 when FAILED (the folder says why)."""
    config = apply_overrides(load_config(getattr(args, "config", None)), args)
    log_to_file(config)  # gcsfs's retry tracebacks go to the log, never to the terminal
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
    from core.runs.uploads import upload_run

    summary = asyncio.run(upload_run(config, outcome.folder, outcome.run_id))
    where = f"{config.results.upload_root.rstrip('/')}/backtest_results/{outcome.run_id}/"
    if summary.complete:
        console.print(f"uploaded to {where} ({summary.done} files)", soft_wrap=True, markup=False)
        return
    errors = Console(stderr=True, soft_wrap=True)
    errors.print(
        f"warning: uploads to {where} not finished: {summary.done} done, {summary.pending} "
        f"queued, {summary.failed} failed ({summary.last_error or 'not tried yet'}); "
        "`trade-console uploads` shows them and retries",
        markup=False,
    )


def _run_with_progress(config: AppConfig, console: Console) -> BacktestOutcome:
    # Imported here: Nautilus takes seconds to import, and a bad config should not wait.
    from core.backtest.pipeline import run_backtest

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
    if isinstance(value, list):  # e.g. parents_working_at_end: ids, or none
        return escape(", ".join(str(item) for item in value) or "none")
    return escape(str(value))
