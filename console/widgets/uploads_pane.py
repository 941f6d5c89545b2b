"""The Uploads pane: the GCS upload queue, files not yet done first."""

from __future__ import annotations

from collections.abc import Sequence

from console.widgets.cells import DASH, themed
from console.widgets.column_layout import Column
from console.widgets.oms_pane import OmsPane
from console.widgets.table_pane import Cells
from core.oms import OmsStore, UploadState
from core.oms.health import format_bytes

STATE_VARIABLES = {
    "queued": "status-open",
    "uploading": "status-open",
    "done": "status-done",
    "failed": "status-bad",
}


class UploadsPane(OmsPane):
    """Each file's place in the upload queue: size, state, retries and last error."""

    TITLE = "Uploads"
    # A long path is cut at its start (the file name matters more); the error takes the rest.
    COLUMNS = (
        Column("file", 30, keep_end=True),
        Column("size", 4, numeric=True),
        Column("state", 9),
        Column("retries", 7, numeric=True, priority=3),
        Column("last error", 10, grow=True, priority=2),
    )
    TABLES = frozenset({"uploads"})

    async def fetch(self, store: OmsStore) -> list[UploadState]:
        return await store.uploads(limit=self.limit)

    def key(self, record: UploadState) -> str:
        return record.file

    def cells(self, record: UploadState) -> Cells:
        return (
            record.file,
            format_bytes(record.size),
            themed(record.state, STATE_VARIABLES.get(record.state), self.variables),
            str(record.retries),
            DASH if record.last_error is None else record.last_error,
        )

    def summary(self, data: Sequence[UploadState]) -> str:
        failed = sum(1 for upload in data if upload.state == "failed")
        active = sum(1 for upload in data if upload.state in ("queued", "uploading"))
        return f"{active} active · {failed} failed"
