"""Backtest run ids: ``BT-YYYYMMDD-NNN``, unique under ``{results_root}/backtest_results/``.

An id is *claimed*, not just computed: the run's folder is created (with a ``_claimed`` marker
file) before the id is handed out, so two backtests started at the same moment never write into
the same folder.

- Local roots: ``makedirs(exist_ok=False)`` is atomic in the operating system, so of two
  processes racing for the same number exactly one wins and the other moves on to the next.
- Remote roots (``gs://``...): object stores have no folders to create atomically. The claim
  checks that nothing exists under the run's prefix, then writes the marker with
  ``mode="create"`` (on GCS an ``ifGenerationMatch=0`` precondition, which the store enforces
  atomically) and reads it back to confirm that its own token is there. **Residual race**: a
  store that ignores ``mode="create"`` (or an emulator that ignores the precondition) lets two
  writers both see "absent" and both write the marker; the read-back catches the writer whose
  marker was overwritten before it read, but not two writers that each read back their own
  marker before the other wrote. Runs launched from one desk are started one at a time, so
  this window (a few milliseconds) is accepted rather than adding a lock service.

NNN counts from 001 within the UTC day of ``now``; the first number tried is one past the
highest already present, so an id whose folder was deleted is not reissued unless it was the
day's highest. Past 999 the number simply grows to 4 digits (``BT-20261123-1000``): ids stay
unique and parseable, but from then on a plain string sort no longer orders that day's runs.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from fsspec import AbstractFileSystem

from core.data.layout import RESULTS_DIR
from core.errors import DataError, one_line
from core.storage.roots import is_remote, join, resolve

RUN_ID_PATTERN = re.compile(r"^BT-(\d{8})-(\d{3,})$")
CLAIM_MARKER = "_claimed"
# Collisions only happen when another process claims the same number at the same moment; a
# long streak of them means something else is wrong (e.g. the listing is stale or unreadable).
MAX_ATTEMPTS = 1000


def format_run_id(day: dt.date, number: int) -> str:
    """``BT-YYYYMMDD-NNN``: at least three digits, more past 999 so ids never collide."""
    if number < 1:
        raise ValueError(f"run number must be >= 1, got {number}")
    return f"BT-{day:%Y%m%d}-{number:03d}"


def allocate_run_id(results_root: str, now: dt.datetime) -> str:
    """Claim the next free run id of ``now``'s UTC day under ``results_root``.

    Parameters
    ----------
    results_root
        Local path or URL of the results root; runs live in its ``backtest_results/`` folder.
    now
        Time zone-aware launch time: the id carries its UTC date, so a run started at 00:30 in
        Paris belongs to the previous UTC day, like every other date on the desk.

    Returns
    -------
    str
        The claimed id. Its folder exists (with a ``_claimed`` marker) when this returns.

    Raises
    ------
    ValueError
        If ``now`` is naive: its UTC date would be a guess.
    DataError
        If the results root cannot be listed or written.
    """
    if now.tzinfo is None:
        raise ValueError("allocate_run_id: now must be time zone-aware (UTC date of the run)")
    day = now.astimezone(dt.UTC).date()
    fs, root = resolve(results_root)
    base = join(root, RESULTS_DIR)
    remote = is_remote(results_root)
    try:
        number = _highest_number(fs, base, day) + 1
        for _ in range(MAX_ATTEMPTS):
            run_id = format_run_id(day, number)
            if _claim(fs, join(base, run_id), remote, now):
                return run_id
            number += 1
    except OSError as exc:
        raise DataError(f"cannot claim a run id: {one_line(exc)}", source=results_root) from exc
    raise DataError(
        f"no free run id after {MAX_ATTEMPTS} attempts from {format_run_id(day, number)}",
        source=results_root,
    )


def _highest_number(fs: AbstractFileSystem, base: str, day: dt.date) -> int:
    # A listing that is stale by a few milliseconds only costs a retry; a fresh one avoids
    # walking up from 001 through every run of the day.
    fs.invalidate_cache(base)
    if not fs.exists(base):
        return 0
    prefix = f"{day:%Y%m%d}"
    highest = 0
    for entry in fs.ls(base, detail=False):
        match = RUN_ID_PATTERN.match(entry.rstrip("/").rsplit("/", 1)[-1])
        if match is not None and match.group(1) == prefix:
            highest = max(highest, int(match.group(2)))
    return highest


def _claim(fs: AbstractFileSystem, path: str, remote: bool, now: dt.datetime) -> bool:
    token = f"{now.astimezone(dt.UTC).isoformat()} {uuid.uuid4().hex}\n".encode()
    marker = join(path, CLAIM_MARKER)
    if not remote:
        try:
            fs.makedirs(path, exist_ok=False)
        except FileExistsError:
            return False
        fs.pipe_file(marker, token)
        return True
    if fs.exists(path):
        return False
    try:
        fs.pipe_file(marker, token, mode="create")
    except FileExistsError:
        return False
    return fs.cat_file(marker) == token
