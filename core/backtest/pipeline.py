"""The backtest pipeline: the desk's data in, Nautilus in the middle, the five result files out.

``run_backtest`` checks its inputs, has a worker process read the window's ticks (only the row
groups that overlap it) and write them vectorised into a scratch Nautilus catalog slice by slice
(``core.backtest.catalog_feed``), builds the engine with ``BacktestNode`` from the run config,
streams the catalog through the engine's data iterator in ``chunk_size`` chunks with
``NautilusRebalanceStrategy`` following the targets, then writes orders, fills, positions,
equity curve and summary. Whatever goes wrong, the run's folder ends with a summary.json:
COMPLETED with its results, or FAILED with the error and no parquet file (CANCELLED, the same
way, when the progress callback raised ``RunCancelled``: the operator cancelled the run).

With ``[backtest] mode = "signals"`` the engine gets only the ``window_secs`` after each target
set (``core.data.signal_windows``, ``WindowFeed``), read in this process: same strategy, fill model
and result files; positions are marked at the last price seen between windows. With ``fetch =
"direction-change"`` only the target sets that change a side get a window and are applied
(``core.backtest.signal_fetch``).

The run is also recorded in the OMS (``config.oms.location``): its state and progress in the
``runs`` table and, with ``config.oms.record_backtests``, its orders, fills, positions and
balances through ``OmsFeed``, so the dashboard shows a run's trading before any node exists.
The OMS is bookkeeping: one that cannot be opened or written never fails the run; the summary's
``execution_stats.oms`` then says why (one line), and a warning is logged.

Call it under ``if __name__ == "__main__":`` in scripts: the worker is a spawned process.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from core.backtest.account_trim import AccountEventTrim
from core.backtest.catalog_feed import CatalogFeed, WindowFeed
from core.backtest.equity import NANOS_PER_SECOND, EquityRecorder, EquityRecorderConfig
from core.backtest.inputs import BacktestInputs, prepare_inputs
from core.backtest.nautilus_results import fill_rows, last_trade_prices, order_rows
from core.backtest.nautilus_setup import logging_config, run_config
from core.backtest.node_guard import NodeGuard
from core.backtest.results_builder import build_results
from core.backtest.signal_fetch import FetchPlan, plan_fetch
from core.config import AppConfig, parse_balance, to_builtins
from core.data.instrument_specs import InstrumentSpec
from core.data.nautilus_instruments import to_nautilus_instrument
from core.data.results import (
    STATUS_CANCELLED,
    STATUS_FAILED,
    write_failed_summary,
    write_results,
)
from core.data.run_id import allocate_run_id
from core.data.signal_windows import orders_filled_after_their_window, signal_windows
from core.errors import EmptyWindowError, RunCancelled, TradeConsoleError, bounded
from core.execution.algorithms.choice import register_exec_algorithms
from core.execution.oms_feed import OmsFeed, OmsFeedConfig
from core.execution.strategy import (
    NautilusRebalanceStrategy,
    NautilusRebalanceStrategyConfig,
    ScheduledTargets,
    rebalance_strategy_config,
)
from core.fills.exec_client import install_desk_fills
from core.oms.events import BacktestStarted
from core.oms.run_recorder import RunRecorder
from core.storage.roots import is_remote, storage_errors


@dataclass(frozen=True)
class Progress:
    """Where a run is: ``phase`` is running or writing; ``done``/``total`` in its unit."""

    phase: str
    done: int
    total: int
    ticks: int = 0


@dataclass(frozen=True)
class BacktestOutcome:
    """What a run left behind: its id, status, folder, and the one-line error if it failed."""

    run_id: str
    status: str
    folder: str
    error: str | None
    summary: dict


ProgressCallback = Callable[[Progress], None]


def run_backtest(
    config: AppConfig,
    progress: ProgressCallback | None = None,
    now: dt.datetime | None = None,
) -> BacktestOutcome:
    """Run one backtest as ``config`` describes and write its result folder.

    Never raises for bad input: a problem with the config or the data ends as a FAILED summary
    whose error is one line naming the file or field. Unexpected errors end the same way (with
    the exception type), and the log under ``config.logging.directory`` holds the details.
    ``RunCancelled`` raised by ``progress`` (the operator cancelled the run) ends it CANCELLED,
    with the same summary and ``runs`` row.
    """
    created_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    results_root = config.results.root
    run_id = allocate_run_id(results_root, created_at)
    recorder = RunRecorder.open(config.oms.location, run_id)
    report = _reporting(progress, recorder)
    scratch = Path(tempfile.mkdtemp(prefix=f"{run_id}-", dir=_scratch_dir(config)))
    outcome = None
    try:
        outcome = _run(config, run_id, created_at, scratch, report, recorder)
    except Exception as error:  # every failure must end in a FAILED (or CANCELLED) summary
        message = str(error) if isinstance(error, TradeConsoleError) else _describe(error, config)
        status = STATUS_CANCELLED if isinstance(error, RunCancelled) else STATUS_FAILED
        folder = write_failed_summary(
            results_root, run_id, message, to_builtins(config), created_at, status
        )
        outcome = BacktestOutcome(run_id, status, folder, message, {"status": status})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if outcome is None:  # interrupted (KeyboardInterrupt): the run will not come back
            recorder.finish("FAILED", None, "interrupted")
        else:
            recorder.finish(outcome.status, outcome.folder, outcome.error)
    return outcome


def _reporting(progress: ProgressCallback | None, recorder: RunRecorder) -> ProgressCallback:
    """The caller's progress callback, with the run's progress also sent to the OMS."""

    def report(update: Progress) -> None:
        recorder.running(update.phase, update.done / update.total if update.total else 0.0)
        if progress is not None:
            progress(update)

    return report


def _describe(error: BaseException, config: AppConfig) -> str:
    text = f"{type(error).__name__}: {bounded(' '.join(str(error).split()) or 'no message')}"
    if isinstance(error, (*storage_errors(), TimeoutError)):
        # A storage library's error names a host or a path at best: say which roots it was.
        remote = [
            f"{url} ({field})"
            for field, url in (
                ("data.root", config.data.root),
                ("data.instruments_root", config.data.instruments_root),
                ("results.root", config.results.root),
            )
            if url and is_remote(url)
        ]
        if remote:
            text += f", reaching {', '.join(remote)}"
    return text


def _scratch_dir(config: AppConfig) -> str:
    path = Path(config.logging.directory).parent / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _run(
    config: AppConfig,
    run_id: str,
    created_at: dt.datetime,
    scratch: Path,
    report: ProgressCallback,
    recorder: RunRecorder,
) -> BacktestOutcome:
    wall_start = time.perf_counter()
    feed: CatalogFeed | WindowFeed | None = None
    plan: FetchPlan | None = None
    if config.backtest.mode == "full":
        feed = CatalogFeed(config.backtest.chunk_size)  # its worker imports while we prepare
    recorder.running("reading", 0.0)
    try:
        inputs = prepare_inputs(config)
        catalog_path = scratch / "catalog"
        ParquetDataCatalog(str(catalog_path)).write_data(
            [to_nautilus_instrument(inputs.specs[i]) for i in inputs.instrument_ids]
        )
        specs = [inputs.specs[i] for i in inputs.instrument_ids]
        schedule = inputs.schedule
        if isinstance(feed, CatalogFeed):
            feed.start(config.data.root, str(catalog_path), specs, inputs.start, inputs.end)
        else:
            plan = plan_fetch(inputs.schedule, config.backtest.fetch)
            schedule = plan.fetched  # a skipped signal is not applied either
            feed = _window_feed(config, inputs, schedule, specs, str(catalog_path))
        guard = NodeGuard(recorder, config.oms.record_backtests)
        recorded = _simulate(config, inputs, schedule, catalog_path, run_id, feed, report, guard)
    finally:
        if feed is not None:
            feed.close()
    recorder.flush()  # the feed's records are in the OMS before the summary says they are
    orders, fills, last_prices, equity, working_at_end = recorded
    ticks = feed.stats.ticks
    mode_stats: dict[str, object] = {"mode": config.backtest.mode}
    if isinstance(feed, WindowFeed) and plan is not None:
        mode_stats |= {
            **plan.stats(config.backtest.fetch),
            "window_secs": config.backtest.window_secs,
            "windows": len(feed.windows),
            "window_seconds_total": sum(e - s for s, e in feed.windows) / NANOS_PER_SECOND,
            "bytes_in_files": feed.bytes_in_files,
            "ticks_in_files": feed.rows_in_files,
            # Orders still filling after their window: make the windows longer than that.
            "orders_filled_after_their_window": orders_filled_after_their_window(
                {row["order_id"]: row["created_at"] for row in orders},
                ((row["order_id"], row["ts_event"]) for row in fills),
                feed.windows,
            ),
        }
    wall_seconds = time.perf_counter() - wall_start
    oms: dict[str, object] = {} if recorder.problem is None else {"oms": recorder.problem}
    if guard.note is not None:
        oms["oms_trading"] = guard.note
    tables, summary = build_results(
        run_id=run_id,
        created_at=created_at,
        config=to_builtins(resolved_config(config, inputs)),
        inputs=inputs,
        starting_value=starting_value(config),
        orders=orders,
        fills=fills,
        equity=equity,
        last_prices=last_prices,
        interval_seconds=config.backtest.equity_interval_secs,
        execution={
            "ticks_processed": ticks,
            "bytes_read": feed.stats.bytes_read,
            "row_groups_read": feed.stats.row_groups_read,
            "row_groups_skipped": feed.stats.row_groups_skipped,
            "wall_seconds": wall_seconds,
            "signals": len(inputs.schedule),
            # Parents still worked at the period's end (at most one per instrument: parents
            # never stack); their rows say what they filled.
            "parents_working_at_end": working_at_end,
            **mode_stats,
            **oms,
        },
    )
    folder = write_results(config.results.root, run_id, tables, summary)
    report(Progress("writing", 1, 1, ticks))
    return BacktestOutcome(run_id, summary.status, folder, None, msgspec.to_builtins(summary))


def _window_feed(
    config: AppConfig,
    inputs: BacktestInputs,
    schedule: list[ScheduledTargets],
    specs: list[InstrumentSpec],
    catalog_path: str,
) -> WindowFeed:
    """The signal-driven feed: the ``window_secs`` after each target set of ``schedule``."""
    windows = signal_windows(
        (scheduled.ts_event for scheduled in schedule),
        config.backtest.window_secs * NANOS_PER_SECOND,
        inputs.start_ns,
        inputs.end_ns,
    )
    period = f"[{inputs.start.isoformat()}, {inputs.end.isoformat()})"
    if not windows and inputs.schedule:
        raise EmptyWindowError(
            f"no target set in {period} changes a side (long, short, flat): nothing to run"
            ' with backtest.fetch = "direction-change"'
        )
    if not windows:
        raise EmptyWindowError(
            f"no target set in {period}:"
            ' nothing to run in signal-driven mode (backtest.mode = "signals")'
        )
    return WindowFeed(
        config.data.root,
        catalog_path,
        specs,
        inputs.start_ns,
        inputs.end_ns,
        windows,
        config.backtest.chunk_size,
    )


def _simulate(
    config: AppConfig,
    inputs: BacktestInputs,
    schedule: list[ScheduledTargets],
    catalog_path: Path,
    run_id: str,
    feed: CatalogFeed | WindowFeed,
    report: ProgressCallback,
    guard: NodeGuard,
) -> tuple[list[dict], list[dict], dict[str, float], Mapping[str, Sequence[float]], list[str]]:
    """Run the engine over the feed; return orders, fills, last prices, equity samples and
    the parents an execution algorithm was still working when the period ended."""
    span = max(inputs.end_ns - inputs.start_ns, 1)
    equity_recorder = EquityRecorder(
        EquityRecorderConfig(
            instrument_ids=tuple(inputs.instrument_ids),
            valuation_currency=config.strategy.valuation_currency,
            interval_secs=config.backtest.equity_interval_secs,
        )
    )

    def on_sample(ts: int) -> None:
        report(Progress("running", min(ts - inputs.start_ns, span), span, feed.stats.ticks))
        guard.check()  # a node started on the OMS meanwhile: its panes are its own

    equity_recorder.on_sample = on_sample
    strategy = NautilusRebalanceStrategy(
        rebalance_strategy_config(config, inputs.instrument_ids, NautilusRebalanceStrategyConfig)
    )
    strategy.schedule_targets(schedule)
    node = BacktestNode(
        [
            run_config(
                catalog_path=catalog_path,
                instrument_ids=inputs.instrument_ids,
                venues=config.venues,
                start_ns=inputs.start_ns,
                end_ns=inputs.end_ns,
                chunk_size=config.backtest.chunk_size,
                logging=logging_config(
                    Path(config.logging.directory), run_id, config.logging.level
                ),
            )
        ]
    )
    try:
        node.build()  # venues, instruments and logging from the run config
        engine = node.get_engines()[0]
        install_desk_fills(engine, config.venues)  # the honest fill models' venue clients
        engine.add_actor(equity_recorder)
        engine.add_actor(AccountEventTrim())  # a long run's account history stays a day's
        if guard.recording:
            guard.submit(BacktestStarted(run_id=run_id))  # this run replaces the last one
            feed_config = OmsFeedConfig(
                run_id=run_id, drift_threshold_bps=config.drift.threshold_bps
            )
            engine.add_actor(OmsFeed(feed_config, guard.submit))
            strategy.alert = guard.submit
            strategy.run_id = run_id  # route decisions belong to this run (cleared with it)
        engine.add_strategy(strategy)
        # Idle until a parent names one (``[execution] algorithm``): ``market`` trades as before.
        algorithms = register_exec_algorithms(engine.trader, config.execution, config.data.root)
        report(Progress("running", 0, span, 0))
        engine.add_data_iterator("desk-trade-ticks", feed.chunks())
        with warnings.catch_warnings():
            # Nautilus 1.231 calls pandas' deprecated ``Timestamp.utcnow`` inside ``run``; pandas 3
            # warns on every run, attributed to this line. The warning is Nautilus's to fix.
            warnings.filterwarnings("ignore", message=r"Timestamp\.utcnow is deprecated")
            engine.run(start=inputs.start_ns, end=inputs.end_ns)
        report(Progress("writing", 0, 1, feed.stats.ticks))
        return (
            order_rows(engine.cache),
            fill_rows(engine.cache),
            last_trade_prices(engine.cache, inputs.instrument_ids),
            equity_recorder.columns,
            sorted(p for a in algorithms for p in a.working_at_stop),
        )
    finally:
        node.dispose()


def resolved_config(config: AppConfig, inputs: BacktestInputs) -> AppConfig:
    """``config`` with the window and instruments this run actually used filled in."""
    backtest = msgspec.structs.replace(
        config.backtest,
        start=inputs.start.isoformat(),
        end=inputs.end.isoformat(),
        instruments=tuple(inputs.instrument_ids),
    )
    return msgspec.structs.replace(config, backtest=backtest)


def starting_value(config: AppConfig) -> float:
    """The portfolio's value at the start: every starting balance, in the valuation currency.

    Balances must be in the valuation currency (checked in ``prepare_inputs``): a cash account
    starting with coins would need a price before the first tick to be valued.
    """
    return sum(parse_balance(b)[0] for venue in config.venues for b in venue.starting_balances)
