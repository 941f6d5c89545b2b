"""The desk's backtest runs in one list: local result folders, the results bucket, the OMS.

A run can be in three places at once, each knowing part of it: its folder under
``results.root`` (the summary, once it finished), its copy under ``results.upload_root`` (the
bucket, once uploaded), and the OMS (its ``runs`` row while it is queued or running, and each
file's ``uploads`` row). ``merge`` makes one ``RunEntry`` per run id out of all three.

Reading is kept cheap for hundreds of runs: only ``summary.json`` is read, never a parquet
file, and a summary is read again only when its stamp changes (local: mtime and size; bucket:
the object's generation and size), so a rescan after an OMS commit costs one ``stat`` per run.
A bucket is listed with one recursive listing of its ``backtest_results/`` prefix (one request
per thousand objects), and the summaries not yet cached are fetched together (gcsfs sends them
concurrently). A broken summary becomes an entry carrying its one-line problem, never an
exception: one bad file must not hide the other runs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from core.data.layout import RESULTS_DIR
from core.data.results import SUMMARY_FILE, Summary
from core.data.ticks import to_ns
from core.errors import DataError, one_line
from core.oms import RunState
from core.storage.roots import is_remote, join, resolve, to_url

LOCAL = "local"
BUCKET = "bucket"
LOCATIONS = (LOCAL, BUCKET)
"""Where a run's folder can be, in the order a reader prefers them (local is faster)."""

INCOMPLETE = "INCOMPLETE"
"""A folder without summary.json that the OMS does not know as running (killed, or copying)."""
BROKEN = "BROKEN"
"""A summary.json that cannot be read: the entry's ``note`` says why."""
ACTIVE_STATES = ("QUEUED", "RUNNING")

FETCH_BATCH = 4
"""Summaries fetched from a bucket at once. More stalls a local emulator (its listen backlog
of 5 drops the extra connections, each retried after a second: 100 summaries took 11 s at
gcsfs's default of 128, 57 ms at 4); on GCS, 4 at ~40 ms a GET reads 300 summaries in ~3 s,
once: later listings read only what changed."""

Stamp = tuple[Any, ...]
"""What tells a summary changed without reading it: (mtime_ns, size) or (generation, size)."""


@dataclass(frozen=True)
class SummaryFigures:
    """What the run list shows of one summary.json (or why it could not be read)."""

    status: str
    error: str | None = None
    created_at_ns: int | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    instruments: tuple[str, ...] = ()
    net_pnl: float | None = None
    sharpe_ratio: float | None = None
    max_drawdown_pct: float | None = None
    problem: str | None = None
    """The one-line reason the summary could not be read (``status`` is then ``BROKEN``)."""


@dataclass(frozen=True)
class RunFolder:
    """One run's folder found in one place; ``figures`` None when it has no summary.json."""

    run_id: str
    url: str
    location: str
    figures: SummaryFigures | None


@dataclass(frozen=True)
class UploadTally:
    """Where a run's files stand in the OMS upload queue."""

    total: int = 0
    done: int = 0
    pending: int = 0
    """Queued or uploading."""
    failed: int = 0

    @property
    def text(self) -> str:
        """``all 7 up``, ``3 pending``, ``1 failed``: the worst news first."""
        if self.failed:
            return f"{self.failed} failed"
        if self.pending:
            return f"{self.pending} pending"
        return f"all {self.total} up"


@dataclass(frozen=True)
class RunEntry:
    """One run as the desk sees it, whatever holds which part of it."""

    run_id: str
    status: str
    """QUEUED/RUNNING (the OMS), COMPLETED/FAILED/CANCELLED (the summary), BROKEN or
    INCOMPLETE."""
    figures: SummaryFigures
    """The summary's figures (the preferred copy's); empty while the run has no summary."""
    progress: float | None = None
    phase: str | None = None
    locations: tuple[str, ...] = ()
    """``local``, ``bucket``, both, or none (a run the OMS knows whose folder is gone)."""
    folders: tuple[str, ...] = ()
    """The folder URLs, local first."""
    uploads: UploadTally | None = None
    """None when the OMS holds no upload row for the run."""
    note: str | None = None
    """The run's error, or the problem with its summary."""
    updated_ns: int | None = None
    """The OMS's last update, else the summary's creation: what "newest first" sorts by."""

    @property
    def where(self) -> str:
        """``local``, ``bucket``, ``local+bucket`` or ``-``."""
        return "+".join(self.locations) or "-"

    def matches(self, text: str) -> bool:
        """Whether every word of ``text`` is in the run id, instruments, status or place."""
        words = text.lower().split()
        fields = (self.run_id, *self.figures.instruments, self.status, self.where)
        haystack = " ".join(fields).lower()
        return all(word in haystack for word in words)


def parse_summary(data: bytes) -> SummaryFigures:
    """The figures of a summary.json's bytes; a ``BROKEN`` entry naming the problem if bad."""
    try:
        summary = msgspec.json.decode(data, type=Summary)
    except (msgspec.DecodeError, ValueError) as exc:
        return _broken(exc)
    backtest = summary.config.get("backtest") if isinstance(summary.config, dict) else None
    instruments = backtest.get("instruments") if isinstance(backtest, dict) else None
    period, pnl, metrics = summary.period, summary.pnl, summary.metrics
    return SummaryFigures(
        status=summary.status,
        error=summary.error,
        created_at_ns=to_ns(summary.created_at),
        start_ns=None if period is None else to_ns(period.start),
        end_ns=None if period is None else to_ns(period.end),
        instruments=tuple(str(i) for i in instruments) if isinstance(instruments, list) else (),
        net_pnl=None if pnl is None else pnl.net_pnl,
        sharpe_ratio=None if metrics is None else metrics.sharpe_ratio,
        max_drawdown_pct=None if metrics is None else metrics.max_drawdown_pct,
    )


class RunCatalog:
    """Finds the run folders under the results root and the upload root, caching summaries.

    Safe to use from several threads at once (the local scan runs on each OMS change, the
    bucket listing on demand); every method that touches storage blocks, so the console calls
    them off its event loop.

    Parameters
    ----------
    results_root : str
        ``results.root``: where runs write their folders (``local`` in the list).
    upload_root : str
        ``results.upload_root``: the bucket runs are uploaded to (``bucket``); empty: none.
    """

    def __init__(self, results_root: str, upload_root: str = "") -> None:
        self.results_root = results_root
        self.upload_root = upload_root
        self._cache: dict[str, tuple[Stamp, SummaryFigures]] = {}
        self._lock = threading.Lock()
        self.reads = 0
        """Summaries read so far (benchmarks and tests check the cache with it)."""

    @property
    def local_is_remote(self) -> bool:
        """The results root is itself a bucket: it is listed with the bucket, on demand."""
        return is_remote(self.results_root)

    def scan_local(self, extra_folders: Iterable[str] = ()) -> list[RunFolder]:
        """The folders under the results root (when local), plus ``extra_folders`` (the OMS's
        result folders elsewhere on disk); one ``stat`` each, summaries read when changed."""
        folders: dict[str, RunFolder] = {}
        if not self.local_is_remote:
            _, base = resolve(join(self.results_root, RESULTS_DIR))
            try:
                entries = [e for e in os.scandir(base) if e.is_dir() and _is_run_name(e.name)]
            except (FileNotFoundError, NotADirectoryError):
                entries = []
            for entry in entries:
                folders[entry.path] = self._local_folder(entry.name, entry.path)
        for url in extra_folders:
            if is_remote(url):
                continue
            _, path = resolve(url)
            if path not in folders and os.path.isdir(path):
                folders[path] = self._local_folder(os.path.basename(path), path)
        return list(folders.values())

    def scan_remote(self) -> list[RunFolder]:
        """The folders in the bucket (and under the results root when that is remote).

        Raises
        ------
        DataError
            A root cannot be listed (network, permissions), naming the root.
        """
        found: list[RunFolder] = []
        if self.local_is_remote:
            found += self._remote_folders(self.results_root, LOCAL)
        if self.upload_root:
            found += self._remote_folders(self.upload_root, BUCKET)
        return found

    # -- reading ----------------------------------------------------------------------------

    def _local_folder(self, run_id: str, path: str) -> RunFolder:
        summary = os.path.join(path, SUMMARY_FILE)
        try:
            stat = os.stat(summary)
        except (FileNotFoundError, NotADirectoryError):
            return RunFolder(run_id, path, LOCAL, None)
        stamp = (stat.st_mtime_ns, stat.st_size)
        figures = self._cached(summary, stamp)
        if figures is None:
            try:
                with open(summary, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                figures = _broken(exc)
            else:
                figures = parse_summary(data)
            self._store(summary, stamp, figures)
        return RunFolder(run_id, path, LOCAL, figures)

    def _remote_folders(self, root: str, location: str) -> list[RunFolder]:
        fs, base = resolve(join(root, RESULTS_DIR))
        source = to_url(fs, base)
        try:
            listing: Mapping[str, dict[str, Any]] = fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:  # gcsfs raises its own types for HTTP failures
            raise DataError(f"cannot list: {one_line(exc)}", source) from exc
        runs: dict[str, dict[str, Any] | None] = {}
        prefix = base.rstrip("/") + "/"
        for path, info in listing.items():
            parts = path[len(prefix) :].split("/") if path.startswith(prefix) else []
            if len(parts) < 2 or not _is_run_name(parts[0]):
                continue
            runs.setdefault(parts[0], None)  # a run folder, with or without its summary
            if parts[1] == SUMMARY_FILE and len(parts) == 2:
                runs[parts[0]] = info
        stamps: dict[str, Stamp] = {}
        wanted: list[str] = []
        for run_id, info in runs.items():
            if info is None:
                continue
            path = join(base, run_id, SUMMARY_FILE)
            stamp = (
                info.get("generation") or info.get("mtime") or info.get("md5Hash"),
                info.get("size"),
            )
            stamps[run_id] = stamp
            if self._cached(to_url(fs, path), stamp) is None:
                wanted.append(path)
        fetched = fs.cat(wanted, on_error="return", batch_size=FETCH_BATCH) if wanted else {}
        if not isinstance(fetched, dict):  # one path: some filesystems return its bytes
            fetched = {wanted[0]: fetched}
        for path, data in fetched.items():
            key = path if "://" not in path else resolve(path)[1]
            url = to_url(fs, key)
            run_id = key.rstrip("/").split("/")[-2]
            figures = _broken(data) if isinstance(data, BaseException) else parse_summary(data)
            self._store(url, stamps[run_id], figures)
        folders = []
        for run_id, info in sorted(runs.items()):
            url = to_url(fs, join(base, run_id))
            figures = None
            if info is not None:
                figures = self._cached(to_url(fs, join(base, run_id, SUMMARY_FILE)), stamps[run_id])
            folders.append(RunFolder(run_id, url, location, figures))
        return folders

    def _cached(self, url: str, stamp: Stamp) -> SummaryFigures | None:
        with self._lock:
            known = self._cache.get(url)
        return known[1] if known is not None and known[0] == stamp else None

    def _store(self, url: str, stamp: Stamp, figures: SummaryFigures) -> None:
        with self._lock:
            self._cache[url] = (stamp, figures)
            self.reads += 1


def tally_uploads(folders: Mapping[str, Mapping[str, int]]) -> dict[str, UploadTally]:
    """Each run's upload tally from ``OmsStore.upload_folders()``: a run's files are uploaded
    into a folder named for it, so the run is the folder's last part."""
    counts: dict[str, list[int]] = {}
    for folder, states in folders.items():
        run_id = folder.rsplit("/", 1)[-1]
        if not run_id:
            continue
        count = counts.setdefault(run_id, [0, 0, 0, 0])
        for state, rows in states.items():
            count[0] += rows
            count[1 if state == "done" else 3 if state == "failed" else 2] += rows
    return {run_id: UploadTally(*count) for run_id, count in counts.items()}


def merge(
    folders: Iterable[RunFolder],
    runs: Sequence[RunState] = (),
    uploads: Mapping[str, Mapping[str, int]] | None = None,
) -> list[RunEntry]:
    """One entry per run id from its folders, its OMS row and its upload counts (as
    ``OmsStore.upload_folders()`` gives them).

    The state is the OMS's while it says QUEUED or RUNNING (no summary exists yet), else the
    summary's; a local summary wins over the bucket's copy (they are the same bytes once
    uploaded). Entries come in no particular order: the list sorts them.
    """
    by_run: dict[str, list[RunFolder]] = {}
    for folder in folders:
        by_run.setdefault(folder.run_id, []).append(folder)
    oms = {run.run_id: run for run in runs}
    tallies = tally_uploads(uploads or {})
    entries = []
    for run_id in by_run.keys() | oms.keys():
        found = sorted(by_run.get(run_id, ()), key=lambda f: LOCATIONS.index(f.location))
        entries.append(_entry(run_id, found, oms.get(run_id), tallies.get(run_id)))
    return entries


def _entry(
    run_id: str, found: list[RunFolder], run: RunState | None, uploads: UploadTally | None
) -> RunEntry:
    figures = next((f.figures for f in found if f.figures is not None), None)
    if run is not None and run.state in ACTIVE_STATES:
        status = run.state
    elif figures is not None:
        status = figures.status
    elif run is not None:
        status = run.state
    else:
        status = INCOMPLETE
    note = None
    if figures is not None:
        note = figures.problem or figures.error
    elif run is not None and run.error:
        note = run.error
    elif run is None or run.state not in ACTIVE_STATES:
        note = f"no {SUMMARY_FILE}" if found else "result folder not found"
    updated = run.updated_at if run is not None else None
    if updated is None and figures is not None:
        updated = figures.created_at_ns
    return RunEntry(
        run_id=run_id,
        status=status,
        figures=figures or SummaryFigures(status=status),
        progress=None if run is None else run.progress,
        phase=None if run is None else run.phase,
        locations=tuple(dict.fromkeys(f.location for f in found)),
        folders=tuple(f.url for f in found),
        uploads=uploads,
        note=note,
        updated_ns=updated,
    )


def _broken(error: BaseException) -> SummaryFigures:
    return SummaryFigures(status=BROKEN, problem=f"{SUMMARY_FILE}: {one_line(error)}")


def _is_run_name(name: str) -> bool:
    # Hidden and marker entries (``.x.tmp``, ``_claimed``) are never runs.
    return bool(name) and name[0] not in "._"


__all__ = [
    "BROKEN",
    "BUCKET",
    "INCOMPLETE",
    "LOCAL",
    "RunCatalog",
    "RunEntry",
    "RunFolder",
    "SummaryFigures",
    "UploadTally",
    "merge",
    "parse_summary",
    "tally_uploads",
]
