"""Stream the window's ticks into Nautilus while later hours are still being converted.

The desk's parquet files are converted, one slice of hours at a time, into a scratch
``ParquetDataCatalog`` (vectorised, ``core.backtest.catalog_worker``); the engine pulls the catalog
back in chunks of ``chunk_size`` ticks through its streaming data iterator (Nautilus's Rust reader)
as soon as a slice is ready. A spawned worker process converts slice after slice, so conversion
runs on the second core beside the simulation, and only one chunk of tick objects is alive in
this process at a time: memory does not grow with the period. Slices are short (6 hours) so
the engine starts as soon as the worker has imported and converted the first one; the worker
imports no Nautilus, so that is about 0.7 s after ``start``. A shorter first slice (1 to 3
hours) gained under 0.1 s there and raised this process's peak by about 40 MB.

Measured on the demo data (2.4M ticks, 2 cores): ``BacktestNode.run`` with ``chunk_size``
15.5 s for the simulation alone (it re-sorts every chunk in Python although the catalog returns
it sorted); the engine's data iterator 14.2 s; converting on a thread beside it gained almost
nothing (both threads fight for the GIL); a worker process takes conversion off this process.
A spawned process, never a fork: forking after Nautilus has run hangs.
"""

from __future__ import annotations

import datetime as dt
import itertools
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

from core.backtest.catalog_arrow import write_trade_file
from core.backtest.catalog_worker import SliceBatch, serve
from core.data.instrument_specs import InstrumentSpec
from core.data.signal_windows import WindowTrades
from core.data.ticks import to_ns
from core.errors import DataError, EmptyWindowError
from core.storage.roots import resolve

_WORKER_POLL_SECONDS = 0.5
_DAY = 86_400 * 1_000_000_000


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


def _may_spawn() -> bool:
    # A daemonic process (a multiprocessing pool's worker, a Dask worker) may not start
    # children: there the conversion runs on a thread instead, slower (it shares the GIL with
    # the engine) but the same work with the same results.
    return not multiprocessing.current_process().daemon


class CatalogFeed:
    """Hands the engine the window's ticks slice by slice, converting ahead of it.

    The worker process starts when the feed is created, so its imports (about 0.3 s)
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
                target=serve,
                args=(self._jobs, self._queue, False),
                name="catalog-feed",
                daemon=True,
            )
            self._worker.start()
            return
        context = multiprocessing.get_context("spawn")
        self._jobs, self._queue = context.Queue(), context.Queue()
        self._worker = context.Process(
            target=serve, args=(self._jobs, self._queue, True), name="catalog-feed", daemon=True
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
            yield from read_back(self._catalog, batch.files, self._chunk_size)
        empty = [key for key, count in self.stats.ticks_per_instrument.items() if count == 0]
        if empty:
            raise EmptyWindowError(
                f"no trades for {', '.join(empty)} in {self._window}: nothing to backtest"
            )


class WindowFeed:
    """Hands the engine only the ticks of a signal-driven run's windows, window after window.

    Each window's trades (``core.data.signal_windows.WindowTrades``: the last trade before it and
    the ticks inside it) are written vectorised into the scratch catalog, one file per
    instrument and window, and read back through Nautilus's Rust reader, as ``CatalogFeed``
    does for a full run: the engine gets the very same tick objects for the same trades, so a
    signal's orders and fills can be compared with a full run's. There is no worker process: a
    demo day's windows hold about a tenth of its ticks, read and converted in a fraction of a
    second, less than a spawned worker takes to start.

    Parameters
    ----------
    data_root : str
        Where the desk's day files are.
    catalog_path : str
        The scratch catalog (a local folder) that already holds the instruments.
    specs : list[InstrumentSpec]
        The instruments of the run.
    start_ns, end_ns : int
        The run's period.
    windows : list[tuple[int, int]]
        Disjoint ``[start, end)`` windows in time order
        (``core.data.signal_windows.signal_windows``).
    chunk_size : int
        Ticks per chunk handed to the engine.
    """

    def __init__(
        self,
        data_root: str,
        catalog_path: str,
        specs: list[InstrumentSpec],
        start_ns: int,
        end_ns: int,
        windows: list[tuple[int, int]],
        chunk_size: int,
    ) -> None:
        self._specs = specs
        self.windows = windows
        """The disjoint windows streamed, in order."""
        self._chunk_size = chunk_size
        self._end_ns = end_ns
        # The closing mark (an empty window at the end) goes with the last day's windows.
        self._last_day = (end_ns - 1) // _DAY * _DAY
        self._catalog_path = catalog_path
        self._catalog = ParquetDataCatalog(catalog_path)
        self._readers = {
            spec.instrument_id: WindowTrades(
                data_root, spec.instrument_id, start_ns, end_ns, windows
            )
            for spec in specs
        }
        self.stats = FeedStats({spec.instrument_id: 0 for spec in specs})
        """What has been handed to the engine so far (the footers, read above, included)."""
        self.stats.bytes_read = sum(r.bytes_read for r in self._readers.values())
        self.stats.row_groups_skipped = sum(r.row_groups_skipped for r in self._readers.values())

    @property
    def bytes_in_files(self) -> int:
        """Size of the period's day files (their metadata): what a full run would read."""
        return sum(reader.bytes_in_files for reader in self._readers.values())

    @property
    def rows_in_files(self) -> int:
        """Rows of the period's day files (their footers): the ticks a full run would read."""
        return sum(reader.rows_in_files for reader in self._readers.values())

    def close(self) -> None:
        """Nothing to stop: the feed reads in the caller's thread (``CatalogFeed``'s API)."""

    def chunks(self) -> Iterator[list[TradeTick]]:
        """The windows' ticks (instruments merged by time) in chunks, windows in order.

        The windows starting on one UTC day go into one catalog file per instrument (a file may
        span gaps; files of one instrument never overlap): one file and one reader session per
        window cost about 0.6 s more on the demo's 80 windows, a fifth of the run.
        """
        fs, root = resolve(self._catalog_path)
        intervals: dict[str, list[tuple[int, int]]] = {key: [] for key in self._readers}
        # After the windows, the period's last trade of each instrument: the final marks.
        windows = [*self.windows, (self._end_ns, self._end_ns)]
        for _, group in itertools.groupby(windows, key=lambda w: min(w[0], self._last_day) // _DAY):
            days_windows = list(group)
            files = []
            for spec in self._specs:
                key = spec.instrument_id
                reader = self._readers[key]
                before = (reader.bytes_read, reader.row_groups_read)
                table = pa.concat_tables([reader.take(window) for window in days_windows])
                written = write_trade_file(
                    fs,
                    root,
                    key,
                    spec.price_precision,
                    spec.size_precision,
                    table,
                    intervals[key],
                )
                batch = SliceBatch(files=[], ticks={key: 0})
                if written is not None:
                    files.append(written.path)
                    intervals[key].append((written.start, written.end))
                    batch.ticks[key] = written.ticks
                batch.bytes_read = reader.bytes_read - before[0]
                batch.row_groups_read = reader.row_groups_read - before[1]
                self.stats.add(batch)
            if not files:
                continue
            yield from read_back(self._catalog, files, self._chunk_size)
        empty = [key for key, count in self.stats.ticks_per_instrument.items() if count == 0]
        if empty:
            raise EmptyWindowError(
                f"no trades for {', '.join(empty)} in any of the {len(self.windows)} signal"
                " windows: nothing to backtest"
            )


def read_back(
    catalog: ParquetDataCatalog, files: list[str], chunk_size: int
) -> Iterator[list[TradeTick]]:
    """The trade ticks of ``files`` (scratch-catalog files) in chunks, through Nautilus's Rust
    reader: the engine gets the very objects a catalog query would give it."""
    session = catalog.backend_session(
        data_cls=TradeTick, session=DataBackendSession(chunk_size=chunk_size), files=files
    )
    for chunk in session.to_query_result():
        ticks = capsule_to_list(chunk)
        drop_cvec_pycapsule(chunk)  # the capsule's destructor does not free the Vec
        yield ticks
