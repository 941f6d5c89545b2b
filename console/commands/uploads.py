"""``trade-console uploads [--retry-failed] [--drain] [--verify]``: the upload queue from a shell.

Prints every file of the queue the OMS holds (what the Uploads pane shows): state, attempts,
size, destination and last error. ``--retry-failed`` queues the failed files again,
``--verify`` queues again the files marked done that the bucket no longer holds as sent, and
``--drain`` (implied by both) uploads what is pending, for at most ``[uploads] wait_secs``,
before printing. Exit codes: 0 when no file is failed or left pending; 1 when some are; 2 for a
bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console
from rich.table import Table

from console.logs import log_to_file
from core.config import AppConfig, load_config
from core.oms import OmsStore, UploadState
from core.runs.uploads import DrainSummary, UploadQueue


def run_uploads_command(args: argparse.Namespace) -> int:
    """Show the upload queue; retry and drain it when asked."""
    config = load_config(getattr(args, "config", None))
    log_to_file(config)  # gcsfs's retry tracebacks go to the log, never to the terminal
    verify = getattr(args, "verify", False)
    rows, summary, verified = asyncio.run(
        _run(config, args.retry_failed, args.drain or args.retry_failed or verify, verify)
    )
    console = Console(soft_wrap=True)
    console.print(_table(rows))
    if verified is not None:
        checked, requeued = verified
        console.print(
            f"verified {checked} done files: {requeued} missing or different in the bucket, "
            "queued again",
            markup=False,
        )
    done = sum(1 for row in rows if row.state == "done")
    failed = sum(1 for row in rows if row.state == "failed")
    pending = len(rows) - done - failed
    line = f"{len(rows)} files: {done} done, {pending} pending, {failed} failed"
    if summary is not None:
        line += f" ({summary.attempts} upload attempts now)"
    console.print(line, markup=False)
    return 0 if failed == 0 and pending == 0 else 1


async def _run(
    config: AppConfig, retry_failed: bool, drain: bool, verify: bool
) -> tuple[list[UploadState], DrainSummary | None, tuple[int, int] | None]:
    async with await OmsStore.open(config.oms.location, read_only=not drain) as store:
        summary = verified = None
        if drain:
            queue = UploadQueue(store, config.uploads)
            if verify:
                verified = await queue.verify()
            if retry_failed:
                await queue.retry_failed()
            summary = await queue.drain(config.uploads.wait_secs)
        return await store.uploads(limit=10_000), summary, verified


def _table(rows: list[UploadState]) -> Table:
    table = Table(box=None, pad_edge=False)
    for name in ("state", "tries", "size", "destination", "last error"):
        table.add_column(name, justify="right" if name in ("tries", "size") else "left")
    for row in rows:
        table.add_row(
            row.state,
            str(row.retries),
            f"{row.size:,}",
            row.destination or row.file,
            row.last_error or "",
        )
    return table
