"""Benchmark: tick windows read from GCS (the emulator). Prints figures; asserts nothing.

Starts its own in-memory ``gcp-storage-emulator`` on loopback, uploads the demo data and reads
a set of windows three ways, counting what crosses the wire (every HTTP request gcsfs makes,
and the bytes of every object download, counted inside gcsfs, not by the reader itself):

1. ``TickReader`` as shipped: ``cache_type="none"``, the footer fetched as exactly its bytes,
   row groups chosen from the footer statistics, ``pre_buffer`` coalescing the column chunks;
2. the same without our footer read: pyarrow reads the footer itself (the last 64 KiB, then
   the whole footer again when it is larger);
3. fsspec's default file (gcsfs's read-ahead cache, 5 MiB blocks) with the same row-group
   selection: what a plain ``pq.ParquetFile(fs.open(path))`` costs.

Each window's minimum is computed from the object's footer: the footer (metadata, 4-byte
length, magic) plus the column chunks of the columns read in the row groups whose
``ts_event`` statistics overlap the window. Target (issue 6): within 1.2x of it.

The in-memory emulator answers a 4 KB range in ~1.5 ms; real GCS takes tens of ms a
request, so on GCS the request counts weigh more than the times printed here.

With ``--backtest`` it also runs the whole pipeline (``run_backtest`` over every day) on the
bucket and on the local folder, one after the other, and prints both times, the bytes read
and whether the orders and fills are identical.

Usage: ``.venv/bin/python bench/bench_gcs.py [--data-root DIR] [--columns price,size]
[--backtest]`` (default data: ``artifacts/demo-data``, generated here by ``trade-console
demo-data`` if missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import gcsfs.core  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from gcs_emulator import GcsEmulator  # noqa: E402

from core.backtest.pipeline import run_backtest  # noqa: E402
from core.config import AppConfig, DataConfig, LoggingConfig, OmsConfig, ResultsConfig  # noqa: E402
from core.data.layout import TRADES_DIR, days_between, trades_path  # noqa: E402
from core.data.ticks import TickReader, output_schema, select_row_groups, to_ns  # noqa: E402
from core.storage.roots import resolve  # noqa: E402

BUCKET_ROOT = "gs://bench-gcs/demo"
FIVE_MINUTES = dt.timedelta(minutes=5)
ONE_HOUR = dt.timedelta(hours=1)


@dataclass
class Wire:
    """What gcsfs sent and received, counted at its one request function."""

    requests: int = 0
    downloads: int = 0  # object media GETs (ranged or whole)
    bytes: int = 0  # bytes of object media received

    def reset(self) -> None:
        self.requests = self.downloads = self.bytes = 0


WIRE = Wire()


def count_requests() -> None:
    """Wrap gcsfs's request function (this process only) so every request is counted."""
    original = gcsfs.core.GCSFileSystem._request

    async def counted(self, method, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = await original(self, method, path, *args, **kwargs)
        WIRE.requests += 1
        if "alt=media" in str(path) or "alt=media" in str(kwargs.get("params", "")):
            WIRE.downloads += 1
            WIRE.bytes += len(result[3])
        return result

    gcsfs.core.GCSFileSystem._request = counted  # type: ignore[method-assign]


@dataclass(frozen=True)
class Window:
    instrument_id: str
    start: dt.datetime
    length: dt.timedelta

    @property
    def end(self) -> dt.datetime:
        return self.start + self.length

    def __str__(self) -> str:
        minutes = int(self.length.total_seconds() // 60)
        return f"{self.instrument_id} {self.start:%m-%d %H:%M} +{minutes}m"


def windows(days: list[dt.date], instruments: list[str]) -> list[Window]:
    """20 five-minute windows spread evenly over the days (off the 10-minute row-group grid,
    alternating instruments), and 4 one-hour windows, busy and quiet hours."""
    first = dt.datetime.combine(days[0], dt.time(), dt.UTC)
    span = len(days) * 24 * 60
    chosen = [
        Window(
            instruments[i % len(instruments)],
            first + dt.timedelta(minutes=7 + i * span // 20),
            FIVE_MINUTES,
        )
        for i in range(20)
    ]
    for i, (hour, minute) in enumerate(((13, 30), (2, 15), (15, 5), (20, 40))):
        day = days[i % len(days)]
        start = dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)
        chosen.append(Window(instruments[i % len(instruments)], start, ONE_HOUR))
    return chosen


def minimum_bytes(fs: gcsfs.GCSFileSystem, base: str, window: Window, columns: list[str]) -> int:
    """Footer plus the overlapping row groups' chunks of ``columns``, per day file touched."""
    total = 0
    start_ns, end_ns = to_ns(window.start), to_ns(window.end)
    for day in days_between(window.start, window.end):
        with fs.open(trades_path(base, day, window.instrument_id), "rb") as handle:
            metadata = pq.ParquetFile(handle).metadata
        names = metadata.schema.names
        total += metadata.serialized_size + 8
        for index in select_row_groups(metadata, start_ns, end_ns):
            group = metadata.row_group(index)
            total += sum(group.column(names.index(c)).total_compressed_size for c in columns)
    return total


def read_as_shipped(base_url: str, window: Window, columns: list[str] | None) -> int:
    table = TickReader(base_url).read_window(
        window.instrument_id, window.start, window.end, columns
    )
    return table.num_rows


def read_with(
    open_file: Callable[[gcsfs.GCSFileSystem, str], object],
) -> Callable[[str, Window, list[str] | None], int]:
    """A reader that opens each day file with ``open_file`` and lets pyarrow read the footer,
    then reads the same row groups and columns as ``TickReader`` (not trimmed: the rows of
    the selected groups, which is what was fetched)."""

    def read(base_url: str, window: Window, columns: list[str] | None) -> int:
        fs, base = resolve(base_url)
        names = output_schema(columns).names
        rows = 0
        start_ns, end_ns = to_ns(window.start), to_ns(window.end)
        for day in days_between(window.start, window.end):
            with open_file(fs, trades_path(base, day, window.instrument_id)) as handle:
                parquet = pq.ParquetFile(handle, pre_buffer=True)
                selected = select_row_groups(parquet.metadata, start_ns, end_ns)
                rows += parquet.read_row_groups(selected, columns=names).num_rows
        return rows

    return read


@dataclass
class Figures:
    bytes: list[int]
    requests: list[int]
    seconds: list[float]
    ratios: list[float]


def measure(
    reader: Callable[[str, Window, list[str] | None], int],
    chosen: list[Window],
    minimums: list[int],
    columns: list[str] | None,
) -> Figures:
    figures = Figures([], [], [], [])
    for window, least in zip(chosen, minimums, strict=True):
        WIRE.reset()
        started = time.perf_counter()
        reader(BUCKET_ROOT, window, columns)
        figures.seconds.append(time.perf_counter() - started)
        figures.bytes.append(WIRE.bytes)
        figures.requests.append(WIRE.requests)
        figures.ratios.append(WIRE.bytes / least)
    return figures


def report(name: str, figures: Figures, minimums: list[int], select: slice) -> None:
    fetched = sum(figures.bytes[select])
    least = sum(minimums[select])
    ratios = figures.ratios[select]
    requests = figures.requests[select]
    seconds = figures.seconds[select]
    print(
        f"  {name:<32} {fetched / 1e6:8.2f} MB  x{fetched / least:6.2f} of the minimum"
        f" (worst window x{max(ratios):.2f})  requests/window {statistics.median(requests):g}"
        f" (max {max(requests)})  time/window p50 {statistics.median(seconds) * 1e3:.1f} ms"
        f" max {max(seconds) * 1e3:.1f} ms"
    )


def backtest_both(local_root: str) -> None:
    """The whole pipeline on the bucket, then on the folder: time, bytes, same results."""
    warnings.simplefilter("ignore")  # Nautilus's pandas deprecation warnings
    folders = {}
    with tempfile.TemporaryDirectory() as work:
        for name, root in (("bucket", BUCKET_ROOT), ("folder", local_root)):
            folder = Path(work) / name
            config = AppConfig(
                data=DataConfig(root=root),
                results=ResultsConfig(root=str(folder)),
                logging=LoggingConfig(directory=str(Path(work) / "logs")),
                oms=OmsConfig(database=str(folder / "oms.sqlite"), record_backtests=False),
            )
            started = time.perf_counter()
            outcome = run_backtest(config)
            seconds = time.perf_counter() - started
            if outcome.status != "COMPLETED":
                print(f"backtest on the {name} failed: {outcome.error}")
                return
            stats = outcome.summary["execution_stats"]
            folders[name] = Path(outcome.folder)
            print(
                f"backtest from the {name}: {seconds:.1f} s, {stats['ticks_processed']:,} ticks,"
                f" {stats['bytes_read'] / 1e6:.1f} MB read, {stats['orders']} orders,"
                f" {stats['fills']} fills"
            )
        same = all(
            pl.read_parquet(folders["bucket"] / file).equals(
                pl.read_parquet(folders["folder"] / file)
            )
            for file in ("orders.parquet", "fills.parquet", "positions.parquet")
        )
        print(f"orders, fills and positions identical: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=str(ROOT / "artifacts" / "demo-data"))
    parser.add_argument(
        "--columns", default="", help="comma-separated trade columns (default: all, as a backtest)"
    )
    parser.add_argument("--backtest", action="store_true", help="also time a whole backtest")
    args = parser.parse_args()
    columns = [c for c in args.columns.split(",") if c] or None
    data = Path(args.data_root)
    if not (data / TRADES_DIR).is_dir():
        print(f"generating the demo data in {data} ...")
        command = [str(Path(sys.executable).with_name("trade-console")), "demo-data"]
        subprocess.run([*command, "--root", str(data)], check=True)

    emulator = GcsEmulator()
    emulator.start()
    try:
        with emulator.environment():
            fs, base = resolve(BUCKET_ROOT)
            started = time.perf_counter()
            fs.mkdir(base, create_parents=True)
            fs.put(str(data), base, recursive=True)
            files = fs.find(base)
            size = sum(fs.info(path)["size"] for path in files)
            print(
                f"uploaded {len(files)} files, {size / 1e6:.1f} MB, to the in-memory emulator"
                f" in {time.perf_counter() - started:.1f} s"
            )
            days = sorted(
                dt.date.fromisoformat(path.rsplit("day-", 1)[1].split("/")[0])
                for path in fs.ls(f"{base}/{TRADES_DIR}", detail=False)
            )
            instruments = sorted(
                Path(path).stem
                for path in fs.ls(f"{base}/{TRADES_DIR}/day-{days[0]}/data_type-trades")
            )
            chosen = windows(days, instruments)
            names = output_schema(columns).names
            minimums = [minimum_bytes(fs, base, window, names) for window in chosen]
            count_requests()
            variants = {
                "TickReader (as shipped)": read_as_shipped,
                'cache_type="none", pyarrow footer': read_with(
                    lambda fs, path: fs.open(path, "rb", cache_type="none")
                ),
                "fsspec default (read-ahead)": read_with(lambda fs, path: fs.open(path, "rb")),
            }
            read_as_shipped(BUCKET_ROOT, chosen[0], columns)  # warm up: imports, session
            results = {
                name: measure(reader, chosen, minimums, columns)
                for name, reader in variants.items()
            }
            if args.backtest:
                backtest_both(str(data))
    finally:
        emulator.stop()

    print(f"columns read: {', '.join(names)}; day files of {len(days)} days: {size / 1e6:.1f} MB")
    for label, select in (
        ("20 five-minute windows", slice(0, 20)),
        ("4 one-hour windows", slice(20, None)),
    ):
        least = sum(minimums[select])
        print(f"{label}: minimum {least / 1e6:.2f} MB in all")
        for name, figures in results.items():
            report(name, figures, minimums, select)
    print("per window (TickReader as shipped):")
    shipped = results["TickReader (as shipped)"]
    for i, window in enumerate(chosen):
        print(
            f"  {window!s:<32} {shipped.bytes[i]:>9,} B  minimum {minimums[i]:>9,} B"
            f"  x{shipped.ratios[i]:.3f}  {shipped.requests[i]} requests"
            f"  {shipped.seconds[i] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
