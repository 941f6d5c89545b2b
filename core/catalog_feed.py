"""Stream the window's ticks into Nautilus while later hours are still being converted.

The desk's parquet files are converted, one slice of hours at a time, into a scratch
``ParquetDataCatalog`` (vectorised, ``core.catalog``); the engine pulls the catalog back in
chunks of ``chunk_size`` ticks through its streaming data iterator (Nautilus's Rust reader) as
soon as a slice is ready. A spawned worker process converts slice after slice, so conversion
runs on the second core beside the simulation, and only one chunk of tick objects is alive in
this process at a time: memory does not grow with the period. Slices are short (6 hours) so
the engine starts as soon as the worker has imported and converted the first one.

Measured on the demo data (2.4M ticks, 2 cores): ``BacktestNode.run`` with ``chunk_size``
15.5 s for the simulation alone (it re-sorts every chunk in Python although the catalog returns
it sorted); the engine's data iterator 14.2 s; converting on a thread beside it gained almost
nothing (both threads fight for the GIL); a worker process takes conversion off this process.
A spawned process, never a fork: forking after Nautilus has run hangs.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
from nautilus_trader.backtest.node import capsule_to_list, drop_cvec_pycapsule
from nautilus_trader.core.nautilus_pyo3.persistence import DataBackendSession
from nautilus_trader.model.data import TradeTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from core.catalog import trade_tick_directory, trade_tick_file_name, write_trade_ticks
from core.errors import DataError, EmptyWindowError, TradeConsoleError
from core.instrument_specs import InstrumentSpec
from core.nautilus_instruments import to_nautilus_instrument
from core.ticks import TickReader, to_ns

_WORKER_POLL_SECONDS = 0.5


@dataclass
class SliceBatch:
    """One converted slice of the window: its catalog files and what reading it cost."""

    files: list[str]
    ticks: dict[str, int]
    bytes_read: int = 0
    row_groups_read: int = 0
    row_groups_skipped: int = 0


@dataclass
class FeedStats:
    """Totals over the slices handed to the engine so far."""

    ticks_per_instrument: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0
    row_groups_read: int = 0
    row_groups_skipped: int = 0

    @property
    def ticks(self) -> int:
        return sum(self.ticks_per_instrument.values())

    def add(self, batch: SliceBatch) -> None:
        for key, count in batch.ticks.items():
            self.ticks_per_instrument[key] = self.ticks_per_instrument.get(key, 0) + count
        self.bytes_read += batch.bytes_read
        self.row_groups_read += batch.row_groups_read
        self.row_groups_skipped += batch.row_groups_skipped


class _SliceCutter:
    """Cuts one instrument's stream over the whole window at slice boundaries.

    One ``iter_window`` over every day, not one per day, so the reader's checks across days
    (a day file starting before the previous one ended, a trade id repeated on another day)
    still hold.
    """

    def __init__(
        self, reader: TickReader, instrument_id: str, start: dt.datetime, end: dt.datetime
    ):
        self._tables = reader.iter_window(instrument_id, start, end)
        self._pending: pa.Table | None = None

    def until(self, end_ns: int) -> pa.Table | None:
        """The next tables whose first tick is before ``end_ns``, as one table."""
        tables = []
        while True:
            table = self._pending if self._pending is not None else next(self._tables, None)
            self._pending = None
            if table is None:
                break
            if table.column("ts_event")[0].as_py() >= end_ns:
                self._pending = table
                break
            tables.append(table)
        return pa.concat_tables(tables) if tables else None


def _convert_slices(
    data_root: str,
    catalog_path: str,
    specs: list[InstrumentSpec],
    start: dt.datetime,
    end: dt.datetime,
    slice_ends: list[int],
    out: multiprocessing.Queue,
) -> None:
    """Worker process: convert the slices in order, sending each SliceBatch (or the error)."""
    try:
        reader = TickReader(data_root)
        catalog = ParquetDataCatalog(catalog_path)
        instruments = {spec.instrument_id: to_nautilus_instrument(spec) for spec in specs}
        cutters = {key: _SliceCutter(reader, key, start, end) for key in instruments}
        for slice_end in slice_ends:
            batch = SliceBatch(files=[], ticks={})
            before = (reader.bytes_read, reader.row_groups_read, reader.row_groups_skipped)
            for key, instrument in instruments.items():
                table = cutters[key].until(slice_end)
                written = 0 if table is None else write_trade_ticks(catalog, instrument, table)
                batch.ticks[key] = written
                if written:
                    ts = table.column("ts_event")
                    name = trade_tick_file_name(ts[0].as_py(), ts[-1].as_py())
                    batch.files.append(f"{trade_tick_directory(catalog, key)}/{name}")
            batch.bytes_read = reader.bytes_read - before[0]
            batch.row_groups_read = reader.row_groups_read - before[1]
            batch.row_groups_skipped = reader.row_groups_skipped - before[2]
            out.put(batch)
    except TradeConsoleError as error:
        out.put(("error", type(error).__name__, str(error)))
    except BaseException as error:
        out.put(("error", type(error).__name__, f"{type(error).__name__}: {error}"))


def _serve(jobs: multiprocessing.Queue, out: multiprocessing.Queue, own_process: bool) -> None:
    """Worker: wait for the one conversion job, then run it."""
    if own_process:
        # One core for conversion, the other for the simulation: arrow's thread pools would
        # otherwise take both and slow the engine down.
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
    job = jobs.get()
    if job is not None:
        _convert_slices(*job, out)


def _may_spawn() -> bool:
    # A daemonic process (a multiprocessing pool's worker, a Dask worker) may not start
    # children: there the conversion runs on a thread instead, slower (it shares the GIL with
    # the engine) but the same work with the same results.
    return not multiprocessing.current_process().daemon


class CatalogFeed:
    """Hands the engine the window's ticks slice by slice, converting ahead of it.

    The worker process starts when the feed is created, so its imports (about a second)
    overlap the caller's own preparation; ``start`` then gives it the job. Inside a daemonic
    process, which may not have children, the worker is a thread.

    Parameters
    ----------
    chunk_size : int
        Ticks per chunk handed to the engine.
    slice_hours : int
        Hours of ticks per converted slice.
    """

    def __init__(self, chunk_size: int, slice_hours: int = 6) -> None:
        self._chunk_size = chunk_size
        self._slice_nanos = slice_hours * 3600 * 1_000_000_000
        self._slice_ends: list[int] = []
        self._catalog: ParquetDataCatalog | None = None
        self._window = ""
        self.stats = FeedStats()
        """What has been handed to the engine so far."""
        if not _may_spawn():
            self._jobs, self._queue = queue.Queue(), queue.Queue()
            self._worker = threading.Thread(
                target=_serve,
                args=(self._jobs, self._queue, False),
                name="catalog-feed",
                daemon=True,
            )
            self._worker.start()
            return
        context = multiprocessing.get_context("spawn")
        self._jobs, self._queue = context.Queue(), context.Queue()
        self._worker = context.Process(
            target=_serve, args=(self._jobs, self._queue, True), name="catalog-feed", daemon=True
        )
        # The spawned interpreter reads this before polars starts its thread pool.
        previous = os.environ.get("POLARS_MAX_THREADS")
        os.environ["POLARS_MAX_THREADS"] = "1"
        try:
            self._worker.start()
        finally:
            if previous is None:
                del os.environ["POLARS_MAX_THREADS"]
            else:
                os.environ["POLARS_MAX_THREADS"] = previous

    def start(
        self,
        data_root: str,
        catalog_path: str,
        specs: list[InstrumentSpec],
        start: dt.datetime,
        end: dt.datetime,
    ) -> None:
        """Convert ``specs``' trades of ``[start, end)`` from ``data_root`` into the catalog.

        The catalog at ``catalog_path`` (a local folder) must already hold the instruments.
        """
        start_ns, end_ns = to_ns(start), to_ns(end)
        step = self._slice_nanos
        # Slice ends on the UTC grid of slice_hours, the last one at the window's end.
        self._slice_ends = [*range((start_ns // step + 1) * step, end_ns, step), end_ns]
        self._catalog = ParquetDataCatalog(catalog_path)
        self._window = f"[{start.isoformat()}, {end.isoformat()})"
        self._jobs.put((data_root, catalog_path, specs, start, end, self._slice_ends))

    def close(self) -> None:
        """Stop the worker (it may still be converting, or waiting for a job never given)."""
        if isinstance(self._worker, threading.Thread):
            self._jobs.put(None)  # unblocks a thread still waiting for its job
            self._worker.join()  # a converting thread finishes its (bounded) job
            return
        if self._worker.is_alive():
            self._worker.terminate()
        self._worker.join()
        self._jobs.close()
        self._queue.close()

    def _next_batch(self) -> SliceBatch:
        while True:
            try:
                item = self._queue.get(timeout=_WORKER_POLL_SECONDS)
                break
            except queue.Empty:
                if not self._worker.is_alive():
                    raise RuntimeError("the conversion worker died") from None
        if isinstance(item, tuple):
            _, kind, message = item
            if kind in ("DataError", "EmptyWindowError", "ConfigError"):
                raise DataError(message)
            raise RuntimeError(message)
        return item

    def chunks(self) -> Iterator[list[TradeTick]]:
        """Each slice's ticks (all instruments merged by time) in chunks, slices in order.

        Raises whatever stopped the conversion (a bad file, an empty window), so the engine
        stops at once instead of running on partial data.
        """
        for _ in self._slice_ends:
            batch = self._next_batch()
            self.stats.add(batch)
            if not batch.files:
                continue
            assert self._catalog is not None, "start() first"
            session = self._catalog.backend_session(
                data_cls=TradeTick,
                session=DataBackendSession(chunk_size=self._chunk_size),
                files=batch.files,
            )
            for chunk in session.to_query_result():
                ticks = capsule_to_list(chunk)
                drop_cvec_pycapsule(chunk)  # the capsule's destructor does not free the Vec
                yield ticks
        empty = [key for key, count in self.stats.ticks_per_instrument.items() if count == 0]
        if empty:
            raise EmptyWindowError(
                f"no trades for {', '.join(empty)} in {self._window}: nothing to backtest"
            )
