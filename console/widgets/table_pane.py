"""``TablePane``: a titled, bordered table that can be focused, scrolled and maximised.

Every pane of the dashboard is one: the subclass names its columns and says how one record
becomes a row and what the border's subtitle sums up; this class keeps the rows on screen in
step with the data, cheaply and without losing the operator's place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.theme import Theme
from textual.widgets import DataTable

Cell = str | Text
Cells = tuple[Cell, ...]
Row = tuple[str, Cells]
"""A table row: its key (stable across refreshes, e.g. an order id) and its cells."""

ROW_LIMIT = 200
"""Rows a pane keeps at most: the table's cost and memory stay flat whatever the OMS holds."""


class TablePane(Vertical):
    """A bordered ``DataTable`` kept equal to the rows of the data last ``show``-n.

    At 1,000 events/s most rows are the same from one read to the next, so the work is done
    per row that changed: a record equal to the one a row was made from keeps its cells
    (``key`` / ``cells``), and the table gets only the rows added, removed or changed.

    The pane keeps the data it was last shown, so a theme switch re-renders the same rows in
    the new colours. When the rows change, a cursor on the first row stays on the first row
    (the operator follows the newest), a cursor further down stays on the same key (the operator
    reads one order while others arrive).
    """

    DEFAULT_CSS = """
    TablePane {
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $foreground;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0;
        &:focus-within {
            border: round $border;
        }
        & > DataTable {
            height: 1fr;
            background: $surface;
            scrollbar-size-vertical: 1;
        }
    }
    """

    TITLE: ClassVar[str] = ""
    """The border's title, and the pane's name in the narrow layout's strip."""
    COLUMNS: ClassVar[tuple[tuple[str, int], ...]] = ()
    """(label, width) of each column, left to right."""

    allow_maximize = True

    @dataclass
    class Shown(Message):
        """The pane's table now shows these rows, top to bottom."""

        pane: TablePane
        keys: tuple[str, ...]

        @property
        def control(self) -> TablePane:
            return self.pane

    def __init__(self, *, id: str | None = None, row_limit: int = ROW_LIMIT) -> None:
        super().__init__(id=id)
        self.border_title = self.TITLE
        self.row_limit = row_limit
        self._data: Any = None
        self._made: dict[str, tuple[Any, Cells]] = {}
        """Each row's record and the cells made from it, to make them once."""
        self._keys: tuple[str, ...] = ()
        """The keys of the rows shown, top to bottom."""
        self._shown: dict[str, tuple[Cells, tuple[Text, ...]]] = {}
        """Each row shown: the cells it was given, and the text the table holds for them."""

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=False)
        for label, width in self.COLUMNS:
            table.add_column(label, width=width, key=label)
        yield table

    def on_mount(self) -> None:
        # Published once the new theme's variables are in force (a watch on ``theme`` would
        # run before, and render with the old colours).
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    @property
    def table(self) -> DataTable[Text]:
        """The pane's table."""
        return self.query_one(DataTable)

    @property
    def data(self) -> Any:
        """What the pane was last shown (None before the first ``show``)."""
        return self._data

    def show(self, data: Any) -> None:
        """Show ``data``: rows, subtitle, and a ``Shown`` message once the table holds them."""
        self._data = data
        self._render_data()

    def rows(self, data: Any) -> Sequence[Row]:
        """The rows for ``data`` (a sequence of records), top to bottom."""
        made = self._made
        rows: list[Row] = []
        for record in data:
            key = self.key(record)
            known = made.get(key)
            if known is None or known[0] != record:
                known = made[key] = (record, self.cells(record))
            rows.append((key, known[1]))
        if len(made) > 2 * len(rows):  # forget the records that left the table
            keep = {key for key, _ in rows}
            self._made = {key: value for key, value in made.items() if key in keep}
        return rows

    def key(self, record: Any) -> str:
        """The key of ``record``'s row."""
        raise NotImplementedError

    def cells(self, record: Any) -> Cells:
        """The cells of ``record``'s row."""
        raise NotImplementedError

    def summary(self, data: Any) -> str:
        """The border's subtitle for ``data`` (counts, statistics)."""
        return ""

    @property
    def variables(self) -> dict[str, str]:
        """The running theme's variables, for coloured cells."""
        return self.app.theme_variables

    def remake(self) -> None:
        """Make every row again (its look depends on more than its record: a theme, equity)."""
        self._made = {}
        if self._data is not None:
            # Rich text compares equal whatever its colour: rebuild rather than diff.
            self._render_data(rebuild=True)

    def _restyle(self, theme: Theme) -> None:
        self.remake()

    def _render_data(self, *, rebuild: bool = False) -> None:
        rows = list(self.rows(self._data))[: self.row_limit]
        self._replace_rows(rows, rebuild)
        self.border_subtitle = self.summary(self._data)
        self.post_message(self.Shown(self, self._keys))

    def _replace_rows(self, rows: list[Row], rebuild: bool) -> None:
        table = self.table
        cursor = table.cursor_row
        selected = self._keys[cursor] if 0 < cursor < len(self._keys) else None
        if rebuild:
            table.clear()
            self._shown = {}
            self._keys = ()
        wanted: dict[str, Cells] = {}
        for key, cells in rows:
            wanted.setdefault(key, cells)
        for key in self._keys:
            if key not in wanted:
                table.remove_row(key)
                del self._shown[key]
        appended: list[str] = []
        for key, cells in wanted.items():
            shown = self._shown.get(key)
            if shown is not None and shown[0] is cells:
                continue  # made from the same record: nothing to do
            texts = tuple(as_text(cell) for cell in cells)
            if shown is None:
                table.add_row(*texts, key=key)
                appended.append(key)
            else:
                held: list[Text] = []
                for (label, _), text, was in zip(self.COLUMNS, texts, shown[1], strict=True):
                    if text != was or text.style != was.style:
                        table.update_cell(key, label, text)
                        held.append(text)
                    else:
                        held.append(was)
                texts = tuple(held)
            self._shown[key] = (cells, texts)
        keys = tuple(wanted)
        if keys != tuple(key for key in self._keys if key in wanted) + tuple(appended):
            # The table sorts by cell values only; each row's first cell is its own object
            # (``as_text`` makes a new one), so its identity stands for the row.
            position = {id(self._shown[key][1][0]): index for index, key in enumerate(keys)}
            table.sort(self.COLUMNS[0][0], key=lambda cell: position[id(cell)])
        self._keys = keys
        if selected is not None and selected in wanted:
            table.move_cursor(row=keys.index(selected), animate=False, scroll=True)


def as_text(cell: Cell) -> Text:
    """``cell`` as a new ``Text``: a plain string is never read as markup (an alert's message
    may hold brackets), and a table measures ``Text`` faster than it parses markup."""
    return cell.copy() if isinstance(cell, Text) else Text(cell, end="")
