"""The Rebalance screen of a console without a node: the last targets file, read-only.

With the node in the console, ``r`` opens the preview instead (``rebalance_preview``).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static

from console.screens.view_screen import ViewScreen
from console.widgets.cells import percent
from console.widgets.key_footer import KeyFooter
from core.data.target_file import TargetWeightsFile
from core.storage.roots import resolve

TARGETS_FILE = "artifacts/orders/target_weights.json"
"""Where the research process writes the target weights (relative to the working folder)."""

NOTE = (
    "The node trades the targets file whenever it changes (trade-console --node shadow, or "
    "run). No node runs in this console: the manual rebalance and its preview are on r in a "
    "console with the node. Below is the last targets file, as read; nothing is sent from here."
)


@dataclass(frozen=True)
class TargetsRead:
    """What reading the targets file gave: the file, or why there is none to show."""

    url: str
    targets: TargetWeightsFile | None
    problem: str | None


def read_targets(url: str) -> TargetsRead:
    """Read and parse the targets file at ``url`` (blocking: run it in a thread)."""
    try:
        fs, path = resolve(url)
        raw = fs.cat_file(path)
    except FileNotFoundError:
        return TargetsRead(url, None, "no targets file yet")
    except OSError as error:
        return TargetsRead(url, None, f"cannot read it ({error.strerror or error})")
    try:
        targets = msgspec.json.decode(raw, type=TargetWeightsFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        return TargetsRead(url, None, f"not a valid targets file ({error})")
    return TargetsRead(url, targets, None)


class RebalanceScreen(ViewScreen):
    """Explains what rebalancing will need and shows the targets file without acting on it."""

    DEFAULT_CSS = """
    RebalanceScreen {
        & > #file {
            padding: 0 1;
            margin: 1 0 0 0;
            text-style: bold;
        }
        & > DataTable {
            height: 1fr;
        }
    }
    """

    @dataclass
    class Read(Message, bubble=False):
        """The targets file has been read."""

        result: TargetsRead

    def __init__(self, targets_file: str = TARGETS_FILE) -> None:
        super().__init__()
        self.targets_file = targets_file

    def compose(self) -> ComposeResult:
        yield Static("Rebalance", id="title")
        yield Static(NOTE, id="note")
        yield Static(f"{self.targets_file}: reading…", id="file")
        table: DataTable[str] = DataTable(cursor_type="row", id="weights")
        table.add_columns("instrument", "target weight")
        yield table
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.app.run_worker(
            self._read, name="read targets file", group="targets", thread=True, exit_on_error=False
        )

    def _read(self) -> None:
        self.post_message(self.Read(read_targets(self.targets_file)))

    @on(Read)
    def _show(self, message: Read) -> None:
        result = message.result
        header = self.query_one("#file", Static)
        if result.targets is None:
            header.update(f"{result.url}: {result.problem}")
            return
        targets = result.targets
        strategy = f", strategy {targets.strategy_id}" if targets.strategy_id else ""
        total = sum(targets.weights.values())
        header.update(
            f"{result.url}: as of {targets.as_of:%Y-%m-%d %H:%M:%S} UTC{strategy}, "
            f"{len(targets.weights)} instruments, {percent(total)} of equity"
        )
        table = self.query_one(DataTable)
        for instrument, weight in sorted(targets.weights.items()):
            table.add_row(instrument, percent(weight), key=instrument)
