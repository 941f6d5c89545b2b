"""The conversion worker: the desk's trades of a window into catalog files, slice by slice.

Runs in a spawned process (or, inside a daemonic process, a thread) beside the engine; see
``core.backtest.catalog_feed``, which starts it and reads its batches. It imports no NautilusTrader
module, only ``core.data.ticks`` and ``core.backtest.catalog_arrow`` (pyarrow, NumPy, polars):
Nautilus would add about 250 MB and half a second of startup to a process that only writes parquet
files, and that half second is time the engine spends waiting for its first slice.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
from dataclasses import dataclass

import pyarrow as pa

from core.backtest.catalog_arrow import write_trade_file
from core.data.instrument_specs import InstrumentSpec
from core.data.ticks import TickReader
from core.errors import TradeConsoleError
from core.storage.roots import resolve


@dataclass
class SliceBatch:
    """One converted slice of the window: its catalog files and what reading it cost."""

    files: list[str]
    ticks: dict[str, int]
    bytes_read: int = 0
    row_groups_read: int = 0
    row_groups_skipped: int = 0


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
    out: multiprocessing.Queue | queue.Queue,
) -> None:
    """Convert the slices in order, sending each SliceBatch (or the error)."""
    try:
        reader = TickReader(data_root)
        fs, root = resolve(catalog_path)
        # The catalog is this run's scratch and this worker its only writer: the intervals it
        # wrote are all there are, so no folder needs listing before each file.
        intervals: dict[str, list[tuple[int, int]]] = {spec.instrument_id: [] for spec in specs}
        cutters = {key: _SliceCutter(reader, key, start, end) for key in intervals}
        for slice_end in slice_ends:
            batch = SliceBatch(files=[], ticks={})
            before = (reader.bytes_read, reader.row_groups_read, reader.row_groups_skipped)
            for spec in specs:
                key = spec.instrument_id
                table = cutters[key].until(slice_end)
                written = None
                if table is not None:
                    written = write_trade_file(
                        fs,
                        root,
                        key,
                        spec.price_precision,
                        spec.size_precision,
                        table,
                        intervals[key],
                    )
                batch.ticks[key] = 0
                if written is not None:
                    batch.ticks[key] = written.ticks
                    batch.files.append(written.path)
                    intervals[key].append((written.start, written.end))
            batch.bytes_read = reader.bytes_read - before[0]
            batch.row_groups_read = reader.row_groups_read - before[1]
            batch.row_groups_skipped = reader.row_groups_skipped - before[2]
            out.put(batch)
    except TradeConsoleError as error:
        out.put(("error", type(error).__name__, str(error)))
    except BaseException as error:
        out.put(("error", type(error).__name__, f"{type(error).__name__}: {error}"))


def serve(
    jobs: multiprocessing.Queue | queue.Queue,
    out: multiprocessing.Queue | queue.Queue,
    own_process: bool,
) -> None:
    """Wait for the one conversion job, run it, and send its batches to ``out``.

    Parameters
    ----------
    jobs : multiprocessing.Queue | queue.Queue
        Gives ``(data_root, catalog_path, specs, start, end, slice_ends)``, or None to stop
        without converting.
    out : multiprocessing.Queue | queue.Queue
        Receives one ``SliceBatch`` per slice end, in order, or ``("error", type name,
        one-line message)`` and nothing after it.
    own_process : bool
        Whether this is the worker's own process (not a thread of the engine's), so that
        arrow's thread pools may be cut down to the one core it is meant to use.
    """
    if own_process:
        # One core for conversion, the other for the simulation: arrow's thread pools would
        # otherwise take both and slow the engine down.
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
    job = jobs.get()
    if job is not None:
        _convert_slices(*job, out)
