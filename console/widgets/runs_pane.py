"""``RunsPane``: every backtest run the desk has, local or in the bucket, known to the OMS or not.

The list is ``core.runs.catalog``'s: the local result folders and the OMS's ``runs`` and
``uploads`` rows are read again whenever those tables change (by the app, like every OMS pane;
the folders are scanned off the loop), the bucket is listed when the pane first shows and on
``RunsPane.refresh_bucket`` (a thread: the console never waits on the network). Sorting,
filtering and marking only re-render what was read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from console.widgets.column_layout import Column
from console.widgets.filter_input import FilterInput
from console.widgets.oms_pane import OmsPane, PaneHost
from console.widgets.run_cells import run_cells
from console.widgets.table_pane import Cells
from core.errors import TradeConsoleError, one_line
from core.oms import OmsStore, RunState
from core.runs.catalog import RunCatalog, RunEntry, RunFolder, merge

RUN_LIMIT = 5_000
"""OMS ``runs`` rows read (most recently updated first), and rows the list keeps at most."""

SortKey = Callable[[RunEntry], Any]
SORTS: tuple[tuple[str, SortKey], ...] = (
    ("updated", lambda entry: entry.updated_ns),
    ("run", lambda entry: entry.run_id),
    ("state", lambda entry: entry.status),
    ("net PnL", lambda entry: entry.figures.net_pnl),
    ("Sharpe", lambda entry: entry.figures.sharpe_ratio),
    ("max DD", lambda entry: entry.figures.max_drawdown_pct),
    ("period", lambda entry: entry.figures.start_ns),
    ("instruments", lambda entry: ",".join(entry.figures.instruments) or None),
)
"""What ``s`` cycles through, in order; a run without the value sorts last either way."""


@dataclass(frozen=True)
class OmsRead:
    """One read for the list: the OMS rows, the local folders, and the entries merged from
    them and the bucket's folders as listed then (off the loop: 300 runs take ~8 ms)."""

    runs: tuple[RunState, ...]
    uploads: Mapping[str, Mapping[str, int]]
    """Upload rows per folder and state (``OmsStore.upload_folders``)."""
    local: tuple[RunFolder, ...]
    bucket: tuple[RunFolder, ...]
    entries: tuple[RunEntry, ...]


class RunsPane(OmsPane):
    """The desk's runs, one per run id: sortable, filtered by text, marked for comparing."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Details", id="runs.open", tooltip="The run's detail view"),
        Binding("space", "mark", "Mark", id="runs.mark", tooltip="Mark or unmark the run"),
        Binding(
            "equals_sign",
            "compare",
            "Compare marked",
            key_display="=",
            id="runs.compare",
            tooltip="Compare the marked runs side by side",
        ),
        Binding(
            "v",
            "compare_session",
            "vs session",
            id="runs.compare_session",
            tooltip="Compare the run with the shadow session of the same period",
        ),
        Binding("s", "sort", "Sort", id="runs.sort", tooltip="Sort by the next column"),
        Binding("S", "reverse", "Reverse", id="runs.reverse", tooltip="Reverse the sort"),
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            id="runs.filter",
            tooltip="Filter by run id, instrument or state",
        ),
    ]

    TITLE = "Backtest runs"
    # At 80 columns: the run, its state and its figures; wider, where it is and what it holds.
    COLUMNS = (
        Column("run", 17),
        Column("state", 10),
        Column("progress", 8, numeric=True, priority=2),
        Column("phase", 7, priority=3),
        Column("net PnL", 7, numeric=True),
        Column("Sharpe", 6, numeric=True, priority=2),
        Column("max DD", 6, numeric=True, priority=2),
        Column("period", 20, priority=3),
        Column("instruments", 19, priority=4),
        Column("where", 12, priority=4),
        Column("uploads", 10, priority=3),
        Column("note", 10, grow=True, priority=5),
    )
    TABLES = frozenset({"runs", "uploads"})

    @dataclass
    class Asked(Message):
        """The operator asked for something of the list (subclasses say what)."""

        pane: RunsPane

        @property
        def control(self) -> RunsPane:
            return self.pane

    @dataclass
    class Open(Asked):
        """The operator asked for a run's detail view."""

        entry: RunEntry

    @dataclass
    class Compare(Asked):
        """The operator asked to compare the marked runs (their folders, in marking order)."""

        folders: tuple[str, ...]

    @dataclass
    class CompareSession(Asked):
        """The operator asked to compare a run with the shadow session of its period."""

        entry: RunEntry

    @dataclass
    class BucketListed(Message, bubble=False):
        """The bucket's run folders, from the listing thread (``error`` if it failed)."""

        folders: tuple[RunFolder, ...]
        error: str | None

    def __init__(self, catalog: RunCatalog, *, id: str | None = None) -> None:
        super().__init__(id=id, row_limit=RUN_LIMIT)
        self.catalog = catalog
        self.sort_index = 0
        """Into ``SORTS``: the column the list is sorted by."""
        self.descending = True
        """Newest, largest first; ``S`` flips it."""
        self.filter_text = ""
        self.marked: dict[str, None] = {}
        """The marked run ids, in the order they were marked."""
        self.entries: dict[str, RunEntry] = {}
        """Every run last merged, by id (filtered out or not)."""
        self.bucket: tuple[RunFolder, ...] = ()
        """The bucket's folders as last listed."""
        self.bucket_state = ""
        """How the last bucket listing went, for the subtitle ("" before any)."""
        self._listing = False
        self._version = 0
        """The OMS change version of the last read."""
        self._last_read: OmsRead | None = None
        """The last read (maybe not shown yet: reads of one pane never overlap)."""
        self._merge_cache: tuple[OmsRead, tuple[RunFolder, ...], list[RunEntry]] | None = None
        self._update_title()

    def compose(self) -> ComposeResult:
        yield FilterInput(placeholder="/ filter: run id, instrument, state", id="filter")
        yield from super().compose()

    def on_show(self) -> None:
        super().on_show()
        self.refresh_bucket()  # one listing request: the bucket is fresh whenever shown

    # -- reading ------------------------------------------------------------------------------

    async def fetch(self, store: OmsStore) -> OmsRead:
        # Only the tables committed to since the last read are read again: a running backtest
        # commits its progress to ``runs`` often, and uploads move on one file at a time.
        changes = await store.changes_since(self._version)
        last = self._last_read
        if last is None or "runs" in changes.tables:
            runs = tuple(await store.runs(limit=RUN_LIMIT))
        else:
            runs = last.runs
        if last is None or "uploads" in changes.tables:
            uploads = await store.upload_folders()
        else:
            uploads = last.uploads
        self._version = changes.version
        elsewhere = [run.result_folder for run in runs if run.result_folder]
        bucket = self.bucket
        read = await asyncio.to_thread(self._scan_and_merge, runs, uploads, elsewhere, bucket)
        self._last_read = read
        return read

    def _scan_and_merge(
        self,
        runs: tuple[RunState, ...],
        uploads: Mapping[str, Mapping[str, int]],
        elsewhere: list[str],
        bucket: tuple[RunFolder, ...],
    ) -> OmsRead:
        local = tuple(self.catalog.scan_local(elsewhere))
        entries = tuple(merge((*local, *bucket), runs, uploads))
        return OmsRead(runs, uploads, local, bucket, entries)

    def refresh_bucket(self) -> None:
        """List the bucket again (in a thread), unless a listing is under way or none is set."""
        if self._listing or not (self.catalog.upload_root or self.catalog.local_is_remote):
            return
        self._listing = True
        self.bucket_state = "listing bucket..."
        self._refresh_subtitle()
        self._list_bucket()

    def rescan(self) -> None:
        """Read the OMS and the local folders again, and list the bucket again."""
        cast(PaneHost, self.app).request(self)
        self.refresh_bucket()

    @work(thread=True, exclusive=True, group="run-catalog", exit_on_error=False)
    def _list_bucket(self) -> None:
        # Every failure ends the listing with one notice (and lets the next one start).
        try:
            folders = tuple(self.catalog.scan_remote())
        except TradeConsoleError as error:
            self.post_message(self.BucketListed((), str(error)))
        except Exception as error:
            self.post_message(self.BucketListed((), f"bucket listing: {one_line(error)}"))
        else:
            self.post_message(self.BucketListed(folders, None))

    @on(BucketListed)
    def _bucket_listed(self, message: BucketListed) -> None:
        self._listing = False
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
        if message.error is None:
            self.bucket = message.folders
            self.bucket_state = f"bucket listed {stamp}"
        else:
            self.bucket_state = f"bucket listing failed {stamp}"
            self.notify(message.error, title="Run list", severity="error", timeout=10)
        self._rerender()

    # -- rows -----------------------------------------------------------------------------------

    def rows(self, data: OmsRead) -> Sequence[tuple[str, Cells]]:
        merged = self._merged(data)
        self.entries = {entry.run_id: entry for entry in merged}
        shown = [e for e in merged if e.matches(self.filter_text)] if self.filter_text else merged
        key = SORTS[self.sort_index][1]
        known = [e for e in shown if key(e) is not None]
        unknown = sorted((e for e in shown if key(e) is None), key=lambda e: e.run_id)
        # Ties keep the run id order, newest id first when descending.
        known.sort(key=lambda e: e.run_id, reverse=self.descending)
        known.sort(key=key, reverse=self.descending)
        return super().rows([(entry, entry.run_id in self.marked) for entry in known + unknown])

    def _merged(self, data: OmsRead) -> Sequence[RunEntry]:
        # Sorting, filtering and marking reuse the merge; only a newer bucket listing than
        # the read's is merged here, once.
        if data.bucket is self.bucket:
            return data.entries
        cached = self._merge_cache
        if cached is None or cached[0] is not data or cached[1] is not self.bucket:
            entries = merge((*data.local, *self.bucket), data.runs, data.uploads)
            cached = self._merge_cache = (data, self.bucket, entries)
        return cached[2]

    def key(self, record: tuple[RunEntry, bool]) -> str:
        return record[0].run_id

    def cells(self, record: tuple[RunEntry, bool]) -> Cells:
        return run_cells(*record, self.variables)

    def summary(self, data: OmsRead) -> str:
        total = len(self.entries)
        if total == 0:
            return "no runs in the OMS yet" + (
                f" · {self.bucket_state}" if self.bucket_state else ""
            )
        running = sum(1 for e in self.entries.values() if e.status in ("QUEUED", "RUNNING"))
        parts = [f"{running} running", f"{self.table.row_count} shown"]
        if self.filter_text:
            parts[1] = f"{self.table.row_count} of {total} match"
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        if self.bucket_state:
            parts.append(self.bucket_state)
        return " · ".join(parts)

    @property
    def current(self) -> RunEntry | None:
        """The run under the cursor (None when the list is empty)."""
        table = self.table
        if table.row_count == 0:
            return None
        return self.entries.get(table.keys[table.cursor_row])

    # -- keys -----------------------------------------------------------------------------------

    def action_open(self) -> None:
        entry = self.current
        if entry is not None:
            self.post_message(self.Open(self, entry))

    def action_mark(self) -> None:
        entry = self.current
        if entry is None:
            return
        if entry.run_id in self.marked:
            del self.marked[entry.run_id]
        else:
            self.marked[entry.run_id] = None
        self._rerender()
        self.table.action_cursor_down()

    def action_compare(self) -> None:
        marked = [self.entries[run_id] for run_id in self.marked if run_id in self.entries]
        folders = tuple(entry.folders[0] for entry in marked if entry.folders)
        if len(folders) < 2:
            self.notify("Mark two or more runs with results (space) to compare them", timeout=4)
            return
        self.post_message(self.Compare(self, folders))

    def action_compare_session(self) -> None:
        entry = self.current
        if entry is not None:
            self.post_message(self.CompareSession(self, entry))

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._update_title()
        self._rerender()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self._update_title()
        self._rerender()

    def action_filter(self) -> None:
        self.query_one(FilterInput).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self._rerender()

    @on(FilterInput.Left)
    def _filter_left(self) -> None:
        self.table.focus()

    def _update_title(self) -> None:
        arrow = "▼" if self.descending else "▲"
        self.border_title = f"{self.TITLE} · sort: {SORTS[self.sort_index][0]} {arrow}"

    def _rerender(self) -> None:
        if self.data is not None:
            self.show(self.data)

    def _refresh_subtitle(self) -> None:
        if self.data is not None:
            self.border_subtitle = self.summary(self.data)
