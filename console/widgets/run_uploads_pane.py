"""``RunUploadsPane``: one run's files in the upload queue, kept current as the queue drains."""

from __future__ import annotations

from collections.abc import Sequence

from console.widgets.table_pane import Cells
from console.widgets.uploads_pane import UploadsPane
from core.oms import OmsStore, UploadState


class RunUploadsPane(UploadsPane):
    """The Uploads pane narrowed to one run, each file named by its name in the run's folder."""

    TITLE = "Uploads of this run"

    def __init__(self, run_id: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.run_id = run_id

    async def fetch(self, store: OmsStore) -> list[UploadState]:
        rows = await store.uploads_in_folder(self.run_id)
        return sorted(rows, key=lambda row: row.file.rsplit("/", 1)[-1])

    def cells(self, record: UploadState) -> Cells:
        return (record.file.rsplit("/", 1)[-1], *super().cells(record)[1:])

    def summary(self, data: Sequence[UploadState]) -> str:
        if not data:
            return "no upload recorded for this run"
        done = sum(1 for upload in data if upload.state == "done")
        return f"{done} of {len(data)} uploaded · {super().summary(data)}"
