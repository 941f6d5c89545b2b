"""Benchmark: the whole backtest pipeline against the bare Nautilus engine on the same ticks.

Prints figures; asserts nothing. Each measurement runs in its own spawned process, so peak
memory (ru_maxrss) is that measurement's alone and one run's Nautilus state cannot help another.

- bare engine: ``BacktestEngine`` with the same venue, the same ticks (already in memory, read
  from a catalog our writer built) and a no-op strategy; ``engine.run()`` is timed, and
  separately the loading of its ticks (``catalog.query`` + ``add_data``), which the pipeline
  pays inside its own time (it streams the catalog through the engine).
- pipeline: ``run_backtest`` timed end to end: read the desk's parquet files, write the scratch
  catalog, stream it through ``BacktestNode`` with the rebalancing strategy and the equity
  recorder, compute metrics and write the five result files.

Goals (issue 18), printed beside the figures: pipeline ticks/s >= 0.90x the bare engine's with
OMS recording on; recording the backtest into the OMS < 3% of the run; peak memory of the main
process plus the conversion worker < 1 GB.

The pipeline is measured as shipped (recording the run into an OMS of its own, the default)
and without the OMS feed, to show what recording costs. After the timed runs, one more run
with timers on the pipeline's parts (``bench/pipeline_breakdown.py``) says where the time goes.

Usage: ``uv run python bench/bench_backtest.py [--data-root DIR] [--repeat N]``
(generates the demo data under artifacts/bench-data when ``--data-root`` is not given).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_peak_rss_mb() -> float:
    # The largest child this process waited for: the pipeline's conversion worker.
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def bare_engine(data_root: str, log_dir: str) -> dict:
    """Time ``engine.run()`` over every tick of the data set with a strategy that does nothing."""
    import warnings

    warnings.simplefilter("ignore")
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.persistence.catalog import ParquetDataCatalog
    from nautilus_trader.trading.strategy import Strategy

    from core.backtest.catalog import write_trade_ticks
    from core.backtest.inputs import available_days
    from core.backtest.nautilus_setup import venue_config
    from core.config import VenueConfig
    from core.data.instrument_specs import load_instrument_specs
    from core.data.nautilus_instruments import to_nautilus_instrument
    from core.data.ticks import TickReader

    days = available_days(data_root)
    specs = load_instrument_specs(data_root, days[0])
    instruments = [to_nautilus_instrument(spec) for spec in specs.values()]
    reader = TickReader(data_root)
    with tempfile.TemporaryDirectory() as scratch:
        catalog = ParquetDataCatalog(scratch)
        import datetime as dt

        for instrument in instruments:
            for day in days:
                start = dt.datetime.combine(day, dt.time(), dt.UTC)
                table = reader.read_window(instrument.id.value, start, start + dt.timedelta(1))
                write_trade_ticks(catalog, instrument, table)
        loading = time.perf_counter()
        ticks = catalog.query(TradeTick)
        query_seconds = time.perf_counter() - loading

    venue = venue_config(VenueConfig())
    engine = BacktestEngine(
        BacktestEngineConfig(
            logging=LoggingConfig(log_level="OFF", log_directory=log_dir, log_level_file="INFO"),
            run_analysis=False,
        )
    )
    from nautilus_trader.backtest.node import get_fill_model, get_latency_model
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.objects import Money

    engine.add_venue(
        venue=Venue(venue.name),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=None,
        starting_balances=[Money.from_str(b) for b in venue.starting_balances],
        fill_model=get_fill_model(venue),
        latency_model=get_latency_model(venue),
        trade_execution=True,
    )
    for instrument in instruments:
        engine.add_instrument(instrument)
    loading = time.perf_counter()
    engine.add_data(ticks)
    load_seconds = query_seconds + time.perf_counter() - loading
    engine.add_strategy(Strategy())
    started, cpu = time.perf_counter(), time.process_time()
    engine.run()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    count = len(ticks)
    engine.dispose()
    return {
        "ticks": count,
        "seconds": seconds,
        "load_seconds": load_seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": _peak_rss_mb(),
    }


def pipeline(data_root: str, work_dir: str, record_oms: bool = True) -> dict:
    """Time ``run_backtest`` end to end on the data set's whole period."""
    import warnings

    warnings.simplefilter("ignore")
    from core.backtest.pipeline import run_backtest
    from core.config import AppConfig, DataConfig, LoggingConfig, OmsConfig, ResultsConfig

    config = AppConfig(
        data=DataConfig(root=data_root),
        results=ResultsConfig(root=work_dir),
        logging=LoggingConfig(directory=str(Path(work_dir) / "logs")),
        oms=OmsConfig(database=str(Path(work_dir) / "oms.sqlite"), record_backtests=record_oms),
    )
    started, cpu, worker_cpu = time.perf_counter(), _cpu(), _cpu(resource.RUSAGE_CHILDREN)
    outcome = run_backtest(config)
    seconds = time.perf_counter() - started
    cpu, worker_cpu = _cpu() - cpu, _cpu(resource.RUSAGE_CHILDREN) - worker_cpu
    if outcome.status != "COMPLETED":
        raise SystemExit(f"pipeline run failed: {outcome.error}")
    stats = outcome.summary["execution_stats"]
    return {
        "ticks": stats["ticks_processed"],
        "seconds": seconds,
        "cpu_seconds": cpu,
        "worker_cpu_seconds": worker_cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "worker_peak_rss_mb": _children_peak_rss_mb(),
        "orders": stats["orders"],
        "fills": stats["fills"],
        "bytes_read": stats["bytes_read"],
        "books_balance": stats["books_balance"],
    }


def _timed_parts() -> list[tuple[object, str, str]]:
    """(owner, attribute, label) of every part the breakdown times; labels may repeat."""
    from nautilus_trader.backtest.node import BacktestNode

    from core.backtest import catalog_feed
    from core.backtest import pipeline as run
    from core.backtest.catalog_feed import CatalogFeed
    from core.backtest.equity import EquityRecorder
    from core.backtest.node_guard import NodeGuard
    from core.execution.oms_feed import OmsFeed
    from core.execution.strategy import NautilusRebalanceStrategy
    from core.fills.exec_client import TradeFlowExecClient
    from core.oms.run_recorder import RunRecorder

    feed = "OMS: feed (events to records, queued)"
    build = "engine build (BacktestNode.build, honest venue)"
    cache = "results: read from the cache"
    return [
        (RunRecorder, "open", "OMS: open the store (schema check)"),
        (run, "prepare_inputs", "inputs: config, signals, instruments checked"),
        (CatalogFeed, "__init__", "conversion worker: spawn"),
        (BacktestNode, "build", build),
        (run, "install_desk_fills", build),
        (CatalogFeed, "_next_batch", "conversion worker: waiting for its slices"),
        (catalog_feed, "read_back", "catalog read back (Rust reader, tick objects)"),
        (TradeFlowExecClient, "on_trade", "honest fill client: every trade tick"),
        (TradeFlowExecClient, "_accept", "honest fill client: orders in"),
        (TradeFlowExecClient, "_fill", "fills: Nautilus fill events, positions, account"),
        (NautilusRebalanceStrategy, "_on_due", "strategy: rebalances, orders out"),
        (EquityRecorder, "sample", "equity samples"),
        (OmsFeed, "_on_order_event", feed),
        (OmsFeed, "_on_position_event", feed),
        (OmsFeed, "_on_account_state", feed),
        (RunRecorder, "running", "OMS: run progress"),
        (NodeGuard, "check", "OMS: node heartbeat checks"),
        (RunRecorder, "flush", "OMS: waiting for the writer at the end"),
        (RunRecorder, "finish", "OMS: final state, close"),
        (run, "order_rows", cache),
        (run, "fill_rows", cache),
        (run, "last_trade_prices", cache),
        (run, "build_results", "results: metrics"),
        (run, "write_results", "results: write the files"),
        (BacktestNode, "dispose", "engine dispose"),
        (run, "_simulate", ENGINE_LOOP),
        (run, "run_backtest", "the rest (scratch catalog, run id, glue)"),
    ]


ENGINE_LOOP = "engine loop (Nautilus: data, matching, portfolio, bus, clock)"


def instrumented_pipeline(data_root: str, work_dir: str) -> dict:
    """The pipeline once more (recording on) with ``pipeline_breakdown`` timers on its parts."""
    from bench.pipeline_breakdown import Breakdown
    from core.oms.run_recorder import RunRecorder

    breakdown = Breakdown()
    breakdown.calibrate()
    for owner, name, label in _timed_parts():
        breakdown.wrap(owner, name, label, iterator=name == "read_back")
    flush = RunRecorder.flush

    def flush_then_read_threads(self: RunRecorder) -> None:
        flush(self)
        breakdown.read_thread_cpu()  # before the store closes and its threads end

    RunRecorder.flush = flush_then_read_threads  # type: ignore[method-assign]
    result = pipeline(data_root, work_dir)
    return result | {
        "parts": {label: breakdown.net_seconds(label) for label in breakdown.parts},
        "calls": {label: part.calls for label, part in breakdown.parts.items()},
        "overhead_ns": breakdown.overhead_ns,
        "thread_cpu": breakdown.thread_cpu,
    }


def _in_fresh_process(function, *args) -> dict:
    # Not a multiprocessing.Pool: its workers are daemonic and the pipeline spawns its own
    # conversion worker; ProcessPoolExecutor's are not.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (median reported)")
    args = parser.parse_args()
    data_root = args.data_root
    if data_root is None:
        data_root = str(ROOT / "artifacts" / "bench-data")
        if not (Path(data_root) / "raw_tick_data").exists():
            from core.data.demo_data import generate_demo_data

            print(f"generating demo data in {data_root} ...", flush=True)
            generate_demo_data(data_root)

    load_before = os.getloadavg()
    bare, piped, unrecorded = [], [], []
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.repeat):  # interleaved, so machine noise hits all three alike
            bare.append(_in_fresh_process(bare_engine, data_root, str(Path(work) / "bare-logs")))
            piped.append(_in_fresh_process(pipeline, data_root, str(Path(work) / f"run{i}")))
            unrecorded.append(
                _in_fresh_process(pipeline, data_root, str(Path(work) / f"no-oms{i}"), False)
            )
        parts = _in_fresh_process(instrumented_pipeline, data_root, str(Path(work) / "parts"))
    load_after = os.getloadavg()

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    ticks = piped[0]["ticks"]
    bare_seconds = median(bare, "seconds")
    bare_rate = median(bare, "ticks") / bare_seconds
    pipe_seconds = median(piped, "seconds")
    pipe_rate = ticks / pipe_seconds
    ratio = pipe_rate / bare_rate
    unrecorded_seconds = median(unrecorded, "seconds")
    peak = max(run["peak_rss_mb"] for run in piped)
    worker_peak = max(run["worker_peak_rss_mb"] for run in piped)
    loaded = bare_seconds + median(bare, "load_seconds")
    recording = pipe_seconds - unrecorded_seconds
    print(f"data: {data_root} ({ticks:,} ticks), medians of {args.repeat} interleaved runs")
    print(
        "machine load (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}"
        " on {} cores".format(*load_before, *load_after, os.cpu_count())
    )
    print(
        f"bare engine (run only):      {bare_seconds:7.2f} s  {bare_rate:10,.0f} ticks/s"
        f"  peak {max(r['peak_rss_mb'] for r in bare):6.0f} MB"
    )
    print(
        f"bare engine incl. loading its ticks from the catalog (query + add_data): {loaded:7.2f} s"
        f"  {median(bare, 'ticks') / loaded:10,.0f} ticks/s"
    )
    print(f"pipeline (read+convert+run+write): {pipe_seconds:7.2f} s  {pipe_rate:10,.0f} ticks/s")
    print(
        f"pipeline without the OMS feed ([oms] record_backtests = false): "
        f"{unrecorded_seconds:7.2f} s  ({ticks / unrecorded_seconds:,.0f}"
        f" ticks/s, {ticks / unrecorded_seconds / bare_rate:.2f}x)"
    )
    print(
        f"orders {piped[0]['orders']}  fills {piped[0]['fills']}  "
        f"bytes read {piped[0]['bytes_read']:,}  books balance {piped[0]['books_balance']}"
    )
    bare_cpu, pipe_cpu = median(bare, "cpu_seconds"), median(piped, "cpu_seconds")
    print(
        f"CPU seconds (what a loaded machine does not inflate): bare engine run {bare_cpu:.2f}; "
        f"pipeline main process {pipe_cpu:.2f} (= {bare_cpu / pipe_cpu:.2f}x the engine's), "
        f"its worker {median(piped, 'worker_cpu_seconds'):.2f}; without the OMS feed "
        f"{median(unrecorded, 'cpu_seconds'):.2f} (recording "
        f"{100 * (pipe_cpu - median(unrecorded, 'cpu_seconds')) / pipe_cpu:+.1f}%)"
    )
    print("goals (issue 18):")
    print(
        f"  pipeline / bare engine, OMS recording on: {ratio:.2f}x  (goal >= 0.90; "
        f"{pipe_rate / (median(bare, 'ticks') / loaded):.2f}x of the engine with its loading)"
    )
    print(
        f"  recording the backtest into the OMS: {recording:+.2f} s = "
        f"{100 * recording / pipe_seconds:.1f}% of the run  (goal < 3%; recorded minus "
        "unrecorded medians, so within the machine's noise)"
    )
    print(
        f"  peak memory, main process + conversion worker: {peak:.0f} + {worker_peak:.0f} = "
        f"{peak + worker_peak:.0f} MB  (goal < 1024 MB)"
    )
    _print_breakdown(parts, bare_seconds)


def _print_breakdown(run: dict, bare_seconds: float) -> None:
    """Where an instrumented run's time went, and its gap to the bare engine."""
    total = run["seconds"]
    parts: dict[str, float] = run["parts"]
    claimed = sum(parts.values())
    print(
        f"where the time goes (one more run, recording on, with timers on its parts: "
        f"{total:.2f} s; each part's own time, {run['overhead_ns']:.0f} ns a timed call taken off):"
    )
    for label, seconds in sorted(parts.items(), key=lambda item: -item[1]):
        print(
            f"  {seconds:7.2f} s {100 * seconds / total:5.1f}%  {label}"
            f"  ({run['calls'][label]:,} calls)"
        )
    print(f"  {total - claimed:7.2f} s {100 * (total - claimed) / total:5.1f}%  timers, unclaimed")
    oms = sum(seconds for label, seconds in parts.items() if label.startswith("OMS"))
    print(
        f"  recording, in the engine's thread: {oms:.2f} s = {100 * oms / total:.1f}% of the run;"
        " the store's threads used "
        + ", ".join(
            f"{name} {cpu:.2f} s"
            for name, cpu in sorted(run["thread_cpu"].items(), key=lambda item: -item[1])
            if cpu >= 0.01
        )
        + " of CPU"
    )
    loop = parts[ENGINE_LOOP]
    outside = total - loop
    print(
        f"  gap to the bare engine's run ({bare_seconds:.2f} s in the timed runs): "
        f"{total - bare_seconds:+.2f} s; the engine loop itself {loop - bare_seconds:+.2f} s "
        f"(our actors and ticks handled inside it are parts above), all else {outside:.2f} s"
    )


if __name__ == "__main__":
    main()
