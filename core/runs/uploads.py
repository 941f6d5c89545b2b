"""The durable upload queue: every result file reaches its bucket, whatever the network does.

The queue is the OMS's ``uploads`` table, one row per local file: its destination
(``gs://bucket/prefix/backtest_results/{run_id}/{name}``, deterministic, so a repeat overwrites
the same object with the same bytes), its size and md5, its state (queued, uploading, done,
failed), the attempts it took and the last error. A row is written, and committed, before any
byte leaves: a crash, a dead network or a stopped GCS server loses nothing, and whoever drains
the queue next (``trade-console uploads``, the next backtest) carries on where it stopped.

One attempt (``upload_file``):

1. The object may already be there: a write that timed out can still land later (gcsfs, see
   ``gcs-notes``), and a crash can come between the upload and its ``done`` row. If its size and
   md5 match, the file is done without sending it again.
2. Otherwise the bytes are sent (one request; result files are small), under a deadline
   (``[uploads] timeout_secs``): gcsfs's own retries take ~33 s to give up on a dead server.
3. Then verified: the object's size and GCS's md5 must match the local file's.

A failed attempt requeues the file with the error and waits (``backoff_secs``, doubled each
time up to ``max_backoff_secs``); after ``max_attempts`` it is ``failed`` until an operator runs
``trade-console uploads --retry-failed``. Rows left ``uploading`` by a process that died are
taken up again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from core.config import AppConfig, UploadsConfig
from core.errors import one_line
from core.oms import OmsStore, RiskAlert, UploadState
from core.storage.roots import join, resolve

RUN_CONFIG_FILE = "run_config.json"
"""The run's effective configuration, written beside its results for the upload."""

_PENDING = ("queued", "uploading")


class UploadMismatch(Exception):
    """The object in the bucket is not the local file (size or md5 differ)."""


class BucketMissing(Exception):
    """The destination's bucket does not exist: no retry can help until someone creates it."""


@dataclass(frozen=True)
class DrainSummary:
    """Where the files a drain looked at stand when it returns."""

    done: int
    failed: int
    pending: int
    attempts: int
    """Uploads tried during the drain (repeats included)."""
    last_error: str | None = None
    """The latest error among the files not done (one line naming the URL), if any."""

    @property
    def complete(self) -> bool:
        """Every file is in its bucket."""
        return self.failed == 0 and self.pending == 0


def file_md5(path: str | Path) -> str:
    """The md5 of a local file as GCS reports it (base64 of the digest)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


def run_uploads(
    config: AppConfig, folder: str | Path, run_id: str, now_ns: int
) -> list[UploadState]:
    """The queue rows for a finished run: its result files, its configuration and its log.

    Writes ``run_config.json`` (the configuration the run used) into ``folder`` first. The log
    is the run's Nautilus log under ``[logging] directory`` (named for the run id), if any.
    """
    folder = Path(folder)
    (folder / RUN_CONFIG_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(config)))
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("_"))
    logs = sorted(Path(config.logging.directory).glob(f"{run_id}*.log"))
    destination = join(config.results.upload_root, "backtest_results", run_id)
    return [
        UploadState(
            file=str(path.resolve()),
            state="queued",
            size=path.stat().st_size,
            updated_at=now_ns,
            md5=file_md5(path),
            destination=join(destination, path.name),
        )
        for path in [*files, *logs]
    ]


def upload_file(source: str, destination: str, size: int, md5: str, timeout: float) -> bool:
    """Put ``source`` at ``destination`` and verify it; True if it was already there.

    Raises
    ------
    UploadMismatch
        The local file changed since it was queued, or the object read back differs.
    BucketMissing
        The bucket does not exist.
    Exception
        Whatever the network or gcsfs raised (the queue records it and retries).
    """
    fs, path = resolve(destination)
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"upload of {destination} took over {timeout:g} s")
        return remaining

    if _matches(fs, path, size, md5, left()):
        return True
    data = Path(source).read_bytes()
    local_md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    if len(data) != size or local_md5 != md5:
        raise UploadMismatch(f"{source} changed since it was queued (size or md5 differ)")
    try:
        fs.pipe_file(path, data, timeout=left())
    except FileNotFoundError:
        bucket = path.split("/", 1)[0]
        if not fs.exists(bucket):
            raise BucketMissing(f"bucket gs://{bucket} does not exist") from None
        raise
    if not _matches(fs, path, size, md5, left()):
        raise UploadMismatch(f"{destination}: the object read back differs in size or md5")
    return False


def _matches(fs, path: str, size: int, md5: str, timeout: float) -> bool:
    try:
        info = fs.info(path, timeout=timeout)
    except FileNotFoundError:
        return False
    return info.get("size") == size and info.get("md5Hash") == md5


class UploadQueue:
    """Drains the OMS's upload rows: upload, verify, record; retry with backoff.

    Parameters
    ----------
    store : OmsStore
        The OMS holding the queue (writable).
    config : UploadsConfig
        Attempts, backoff and deadlines.
    clock : Callable[[], int]
        Wall clock in ns (tests may pin it).
    """

    def __init__(
        self, store: OmsStore, config: UploadsConfig, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._not_before: dict[str, float] = {}
        """Per file, the monotonic time its next attempt may start (backoff)."""
        self._paused_until = 0.0
        """After a failure that is not the file's own (the server, the network), no file is
        tried before this: a dead server costs one timeout per backoff, not one per file."""

    async def enqueue(self, rows: Sequence[UploadState]) -> int:
        """Record ``rows`` as queued (committed when this returns); returns how many.

        A file already done with the same md5 and destination is not queued again.
        """
        known = {row.file: row for row in await self.store.uploads(limit=100_000)}
        fresh = [
            row
            for row in rows
            if not (
                (old := known.get(row.file)) is not None
                and old.state == "done"
                and (old.md5, old.destination) == (row.md5, row.destination)
            )
        ]
        for row in fresh:
            self.store.submit(row)
        await self.store.flush()
        return len(fresh)

    async def retry_failed(self) -> int:
        """Queue every failed file again (its attempt count kept); returns how many."""
        failed = [row for row in await self.store.uploads(limit=100_000) if row.state == "failed"]
        for row in failed:
            self._record(row, "queued", row.retries, row.last_error)
            self._not_before.pop(row.file, None)
        await self.store.flush()
        return len(failed)

    async def drain(self, wait_secs: float, files: Iterable[str] | None = None) -> DrainSummary:
        """Upload what is pending (``files`` only, if given) until all is done or failed, or
        ``wait_secs`` have passed; what is left stays queued for the next drain."""
        wanted = None if files is None else set(files)
        deadline = time.monotonic() + wait_secs
        attempts = 0
        while True:
            rows = [
                row
                for row in await self.store.uploads(limit=100_000)
                if wanted is None or row.file in wanted
            ]
            pending = [row for row in rows if row.state in _PENDING]
            now = time.monotonic()
            due = [
                row
                for row in pending
                if max(self._not_before.get(row.file, 0.0), self._paused_until) <= now
            ]
            if not pending or now >= deadline:
                return _summary(rows, attempts)
            if not due:
                wake = min(
                    max(self._not_before.get(row.file, 0.0), self._paused_until) for row in pending
                )
                await asyncio.sleep(max(0.01, min(wake, deadline) - now))
                continue
            for row in due:
                if time.monotonic() >= deadline:
                    break
                attempts += 1
                if not await self._attempt(row) and time.monotonic() < self._paused_until:
                    break  # the server or the network failed: everyone waits

    async def _attempt(self, row: UploadState) -> bool:
        row = self._record(row, "uploading", row.retries, row.last_error)
        await self.store.flush()  # durable: a crash from here on is taken up again
        timeout = self.config.timeout_secs
        try:
            await asyncio.wait_for(
                asyncio.to_thread(
                    upload_file, row.file, row.destination or "", row.size, row.md5 or "", timeout
                ),
                timeout + 5.0,
            )
        except BucketMissing as error:
            await self._fail_bucket(row, error)
            return False
        except Exception as error:  # any failure is recorded and retried: see module docstring
            attempts = row.retries + 1
            state = "failed" if attempts >= self.config.max_attempts else "queued"
            backoff = min(
                self.config.backoff_secs * 2 ** (attempts - 1), self.config.max_backoff_secs
            )
            self._not_before[row.file] = time.monotonic() + backoff
            if not isinstance(error, UploadMismatch):
                self._paused_until = self._not_before[row.file]
            self._record(row, state, attempts, _described(row, error))
            await self.store.flush()
            return False
        self._not_before.pop(row.file, None)
        self._record(row, "done", row.retries, row.last_error)  # kept: the story
        await self.store.flush()
        return True

    async def _fail_bucket(self, row: UploadState, error: BucketMissing) -> None:
        # Every pending file for that bucket fails now, with the same one line: waiting out
        # the backoffs would only end the same way, minutes later.
        bucket = (row.destination or "").split("/", 3)[:3]
        prefix = "/".join(bucket) + "/"
        message = (
            f"{error}: create it (or fix results.upload_root), then "
            "`trade-console uploads --retry-failed`"
        )
        for pending in await self.store.uploads(limit=100_000):
            same = pending.file == row.file or (pending.destination or "").startswith(prefix)
            if pending.state in _PENDING and same:
                self._record(pending, "failed", pending.retries + 1, message)
        await self.store.flush()
        self._paused_until = time.monotonic() + self.config.backoff_secs  # ends this round

    async def verify(self) -> tuple[int, int]:
        """Check that every file marked done is still in its bucket with the same size and
        md5; queue again those that are not (a bucket emptied, an object deleted, a server that
        lost them). Returns (checked, queued again)."""
        done = [row for row in await self.store.uploads(limit=100_000) if row.state == "done"]
        timeout = self.config.timeout_secs
        requeued = 0
        for row in done:
            try:
                present = await asyncio.wait_for(
                    asyncio.to_thread(_object_matches, row, timeout), timeout + 5.0
                )
            except Exception as error:  # the server's failure: checked again next time
                self._record(row, "done", row.retries, _described(row, error))
                continue
            if not present:
                self._record(row, "queued", row.retries, "verify: missing or different in bucket")
                requeued += 1
        await self.store.flush()
        return len(done), requeued

    def _record(self, row: UploadState, state: str, retries: int, error: str | None) -> UploadState:
        # The newest row of a file wins in the OMS: stamps must grow even within one ns.
        stamp = max(self.clock(), row.updated_at + 1)
        changed = msgspec.structs.replace(
            row, state=state, retries=retries, last_error=error, updated_at=stamp
        )
        self.store.submit(changed)
        if state == "failed" and row.state != "failed":
            self.store.submit(failed_for_good(changed))
        return changed


def failed_for_good(row: UploadState) -> RiskAlert:
    """The ERROR alert of a file that will not be tried again without an operator: the panes,
    ``status`` and the desk's notification channels (``core.notify``) all see it."""
    return RiskAlert(
        alert_id=f"upload:{row.file}:{row.updated_at}",
        ts_event=row.updated_at,
        severity="ERROR",
        rule="upload_failed",
        message=(
            f"upload of {row.file} failed for good after {row.retries} attempts: "
            f"{row.last_error or 'no error recorded'}; `trade-console uploads --retry-failed`"
        ),
        details={"destination": row.destination, "attempts": row.retries},
    )


def _object_matches(row: UploadState, timeout: float) -> bool:
    fs, path = resolve(row.destination or "")
    return _matches(fs, path, row.size, row.md5 or "", timeout)


def _described(row: UploadState, error: BaseException) -> str:
    # One line naming the URL: gcsfs's errors often name only a path or a host.
    text = f"{type(error).__name__}: {one_line(error)}"
    destination = row.destination or ""
    return text if destination in text else f"{destination}: {text}"


def _summary(rows: Sequence[UploadState], attempts: int) -> DrainSummary:
    states = [row.state for row in rows]
    unfinished = [row for row in rows if row.state != "done" and row.last_error]
    latest = max(unfinished, key=lambda row: row.updated_at, default=None)
    return DrainSummary(
        done=states.count("done"),
        failed=states.count("failed"),
        pending=sum(1 for s in states if s in _PENDING),
        attempts=attempts,
        last_error=None if latest is None else latest.last_error,
    )


async def upload_run(config: AppConfig, folder: str | Path, run_id: str) -> DrainSummary:
    """Queue a finished run's files and drain the queue (earlier leftovers too) for at most
    ``[uploads] wait_secs``; what is not done by then stays queued. The summary counts this
    run's files only: an earlier run's leftovers drained on the way are not this run's."""
    async with await OmsStore.open(config.oms.location) as store:
        queue = UploadQueue(store, config.uploads)
        rows = run_uploads(config, folder, run_id, time.time_ns())
        await queue.enqueue(rows)
        drained = await queue.drain(config.uploads.wait_secs)
        mine = {row.file for row in rows}
        latest = [row for row in await store.uploads(limit=100_000) if row.file in mine]
        return _summary(latest, drained.attempts)
