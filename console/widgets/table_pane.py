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

from console.widgets.column_layout import ColumnSpec
from console.widgets.line_table import LineTable

Cell = str | Text
Cells = tuple[Cell, ...]
Row = tuple[str, Cells]
"""A table row: its key (stable across refreshes, e.g. an order id) and its cells."""

ROW_LIMIT = 200
"""Rows a pane keeps at most: the table's cost and memory stay flat whatever the OMS holds."""


class TablePane(Vertical):
    """A bordered ``LineTable`` kept equal to the rows of the data last ``show``-n.

    At 1,000 events/s most rows are the same from one read to the next, so the work is done
    per row that changed: a record equal to the one a row was made from keeps its cells
    (``key`` / ``cells``), and the table draws again only the rows added or changed.

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
        & > LineTable {
            height: 1fr;
            background: $surface;
            scrollbar-size-vertical: 1;
        }
    }
    """

    TITLE: ClassVar[str] = ""
    """The border's title, and the pane's name in the narrow layout's strip."""
    COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = ()
    """The columns, left to right: a ``Column`` (its priority, whether it holds numbers), or
    (label, width) for a text column; the table shows those that fit whole (``column_layout``)."""

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
        yield LineTable(self.COLUMNS)

    def on_mount(self) -> None:
        # Published once the new theme's variables are in force (a watch on ``theme`` would
        # run before, and render with the old colours).
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    @property
    def table(self) -> LineTable:
        """The pane's table."""
        return self.query_one(LineTable)

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
        # A row made from the same record keeps its Text tuple, so the table keeps its drawn
        # line: only new or changed rows are drawn again.
        previous = {} if rebuild else self._shown
        shown: dict[str, tuple[Cells, tuple[Text, ...]]] = {}
        table_rows: list[tuple[str, tuple[Text, ...]]] = []
        for key, cells in rows:
            if key in shown:
                continue
            was = previous.get(key)
            texts = was[1] if was is not None and was[0] is cells else tuple(map(as_text, cells))
            shown[key] = (cells, texts)
            table_rows.append((key, texts))
        self._shown = shown
        self._keys = tuple(shown)
        table = self.table
        if rebuild:
            table.restyle()
        table.set_rows(table_rows)


def as_text(cell: Cell) -> Text:
    """``cell`` as a new ``Text``: a plain string is never read as markup (an alert's message
    may hold brackets), and a table measures ``Text`` faster than it parses markup."""
    return cell.copy() if isinstance(cell, Text) else Text(cell, end="")
