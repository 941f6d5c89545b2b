"""Benchmark: the run list of the Backtests screen over hundreds of runs. Prints; asserts nothing.

Writes ``--runs`` result folders locally (one real ``write_results`` folder copied, each copy's
summary.json given its own run id) and the same runs into a bucket on an in-memory
``gcp-storage-emulator``, and an OMS with one ``runs`` row and eight ``uploads`` rows per run.
Then times what the list does:

- ``scan_local`` cold (every summary read) and warm (one ``stat`` per run: what each OMS
  commit of ``runs``/``uploads`` costs, in a thread);
- ``scan_remote`` cold and warm, with the HTTP requests gcsfs sent (counted at its one request
  function, as ``bench_gcs.py`` does);
- reading the OMS rows the list needs (``runs``, and the ``uploads`` counted per run folder in
  SQLite), against decoding every ``uploads`` row as the list did before; one run's upload rows
  (its detail view); and ``merge``.

Usage: ``.venv/bin/python bench/bench_run_catalog.py [--runs 300]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "runs"))

import gcsfs.core  # noqa: E402
from gcs_emulator import GcsEmulator  # noqa: E402
from run_helpers import write_run  # noqa: E402

from core.oms import OmsStore, RunState, UploadState  # noqa: E402
from core.runs.catalog import RunCatalog, merge  # noqa: E402
from core.storage.roots import resolve  # noqa: E402

BUCKET = "bench-run-catalog"
FILES = ("orders", "fills", "positions", "equity_curve", "summary", "run_config", "log", "x")
REQUESTS = [0]


def count_requests() -> None:
    """Count every request gcsfs sends from this process."""
    original = gcsfs.core.GCSFileSystem._request

    async def counted(self, method, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        REQUESTS[0] += 1
        return await original(self, method, path, *args, **kwargs)

    gcsfs.core.GCSFileSystem._request = counted  # type: ignore[method-assign]


def timed(action: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def make_runs(root: Path, count: int) -> list[str]:
    """``count`` local run folders: one written for real, the others copies with their own id."""
    first = Path(write_run(str(root), "BT-20260101-001"))
    ids = [f"BT-20260101-{n:03d}" for n in range(1, count + 1)]
    summary = json.loads((first / "summary.json").read_text())
    for run_id in ids[1:]:
        folder = first.parent / run_id
        shutil.copytree(first, folder)
        (folder / "summary.json").write_text(json.dumps({**summary, "run_id": run_id}))
    return ids


def upload_copies(local: Path, ids: list[str], upload_root: str) -> None:
    """Each run's summary and one parquet file in the bucket (what listing and reading see)."""
    fs, base = resolve(f"{upload_root}/backtest_results")
    for run_id in ids:
        for name in ("summary.json", "fills.parquet"):
            fs.pipe_file(f"{base}/{run_id}/{name}", (local / run_id / name).read_bytes())


async def oms_rows(path: Path, ids: list[str]) -> tuple[dict[str, float], list, dict]:
    """Fill an OMS with a row per run and eight upload rows per run; time reading them."""
    async with await OmsStore.open(path) as store:
        for run_id in ids:
            store.submit(RunState(run_id=run_id, state="COMPLETED", updated_at=1, progress=1.0))
            for name in FILES:
                store.submit(
                    UploadState(
                        file=f"/x/backtest_results/{run_id}/{name}",
                        state="done",
                        size=1,
                        updated_at=1,
                        destination=f"gs://b/backtest_results/{run_id}/{name}",
                    )
                )
        await store.flush()

        async def timed_read(read: Callable[[], Any]) -> tuple[float, float, Any]:
            """Median wall time, and the longest the loop was held (a 0.5 ms ticker's gap)."""
            times, stalls, result = [], [], None
            for _ in range(5):
                gaps = [0.0]
                stop = asyncio.Event()

                async def ticker(gaps: list[float] = gaps, stop: asyncio.Event = stop) -> None:
                    last = time.perf_counter()
                    while not stop.is_set():
                        await asyncio.sleep(0.0005)
                        now = time.perf_counter()
                        gaps.append(now - last)
                        last = now

                task = asyncio.create_task(ticker())
                await asyncio.sleep(0.002)
                start = time.perf_counter()
                result = await read()
                times.append(time.perf_counter() - start)
                stop.set()
                await task
                stalls.append(max(gaps))
            return statistics.median(times), statistics.median(stalls), result

        figures = {}
        figures["runs"], _, runs = await timed_read(lambda: store.runs(limit=5_000))
        figures["folders"], figures["folders stall"], folders = await timed_read(
            store.upload_folders
        )
        figures["rows"], figures["rows stall"], _ = await timed_read(
            lambda: store.uploads(limit=100_000)
        )
        figures["one run"], figures["one run stall"], _ = await timed_read(
            lambda: store.uploads_in_folder(ids[-1])
        )
        return figures, runs, folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        local_root = Path(tmp) / "results"
        ids = make_runs(local_root, args.runs)
        emulator = GcsEmulator()
        emulator.start()
        try:
            with emulator.environment():
                fs, _ = resolve(f"gs://{BUCKET}")
                fs.mkdir(BUCKET)
                upload_root = f"gs://{BUCKET}/desk"
                upload_copies(local_root / "backtest_results", ids, upload_root)
                count_requests()
                catalog = RunCatalog(str(local_root), upload_root)
                cold_local, _ = timed(catalog.scan_local, repeat=1)
                warm_local, local = timed(catalog.scan_local)
                REQUESTS[0] = 0
                cold_remote, _ = timed(catalog.scan_remote, repeat=1)
                cold_requests = REQUESTS[0]
                REQUESTS[0] = 0
                warm_remote, remote = timed(catalog.scan_remote)
                warm_requests = REQUESTS[0] / 5
        finally:
            emulator.stop()
        read_oms, runs, uploads = asyncio.run(oms_rows(Path(tmp) / "oms.sqlite", ids))
        folders = [*local, *remote]  # type: ignore[misc]
        merge_time, entries = timed(lambda: merge(folders, runs, uploads))
    n = args.runs
    print(f"run list over {n} runs ({len(entries)} entries, {len(FILES) * n} upload rows)")
    print(f"  scan_local  cold {cold_local * 1e3:7.1f} ms   warm {warm_local * 1e3:6.1f} ms")
    print(
        f"  scan_remote cold {cold_remote * 1e3:7.1f} ms ({cold_requests} requests)"
        f"   warm {warm_remote * 1e3:6.1f} ms ({warm_requests:g} requests)"
    )
    ms = {name: f"{value * 1e3:.1f} ms" for name, value in read_oms.items()}
    print(f"  OMS runs {ms['runs']}   merge {merge_time * 1e3:.1f} ms")
    print(f"  uploads per folder {ms['folders']}, loop held at most {ms['folders stall']}")
    print(f"    (every upload row decoded: {ms['rows']}, loop held {ms['rows stall']})")
    print(f"  one run's upload rows {ms['one run']}, loop held {ms['one run stall']}")


if __name__ == "__main__":
    main()
