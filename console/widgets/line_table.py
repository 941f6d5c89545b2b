"""``LineTable``: a read-only table that draws only the lines on screen, each cached per row.

Textual's ``DataTable`` re-renders every visible cell after any change (its caches are keyed by
a table-wide update count) and re-measures every new cell: at 1,000 events/s, with the Orders
and Drift panes each taking 25 new rows per refresh, drawing the 160x48 dashboard took 27 ms
per frame at the median and 67-150 ms at the tail (cProfile and frame timings in
``bench/bench_console.py``'s history), which is most of the console's latency.

Here a row is turned into one ``Strip`` when its cells change, and a frame copies the strips of
the visible lines: a new order costs one row's rendering, not a table's. The table keeps the
row the cursor is on when rows arrive (newest first: a cursor on the top row follows the
newest; further down it stays on its row's key, so an operator can read one order while others
arrive). The API a pane and its tests need mirrors ``DataTable``'s names: ``row_count``,
``get_row_at``, ``ordered_columns``, ``cursor_row``, ``move_cursor``.

The table never scrolls sideways: at its width it shows the columns that fit whole, by their
priority (``column_layout``), so a number is shown whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.widgets.column_layout import (
    CELL_PADDING,
    Column,
    ColumnSpec,
    Layout,
    as_column,
    fit,
    fitted,
)


class LineTable(ScrollView, can_focus=True):
    """Rows of ``Text`` cells under a fixed header; a row cursor moved by keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False, id="table.up", tooltip="Previous row"),
        Binding("down", "cursor_down", "Down", show=False, id="table.down", tooltip="Next row"),
        Binding(
            "pageup", "page_up", "Page up", show=False, id="table.page_up", tooltip="A page up"
        ),
        Binding(
            "pagedown",
            "page_down",
            "Page down",
            show=False,
            id="table.page_down",
            tooltip="A page down",
        ),
        Binding("home", "first", "First", show=False, id="table.first", tooltip="First row"),
        Binding("end", "last", "Last", show=False, id="table.last", tooltip="Last row"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-table--header",
        "line-table--cursor",
    }

    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        & > .line-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .line-table--cursor {
            background: $block-cursor-blurred-background;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .line-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    @dataclass
    class CursorMoved(Message):
        """The cursor is on another row (``key`` None when the table is empty)."""

        table: LineTable
        row: int
        key: str | None

        @property
        def control(self) -> LineTable:
            return self.table

    def __init__(self, columns: Sequence[ColumnSpec], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._columns = tuple(map(as_column, columns))
        self._labels = tuple(Text(column.label, end="") for column in self._columns)
        self._keys: list[str] = []
        self._cells: list[tuple[Text, ...]] = []
        self._index: dict[str, int] = {}
        self._strips: dict[str, tuple[tuple[Text, ...], Strip]] = {}
        """Each row's cells and the line drawn from them (made again only when they change)."""
        self._header: Strip | None = None
        self._cursor = 0
        self._widths: dict[str, tuple[tuple[Text, ...], tuple[int, ...]]] = {}
        """Each row's cells and their widths (measured again only when they change)."""
        self._widest: tuple[int, ...] = (0,) * len(self._columns)
        """Each column's widest value over all rows (on screen or not)."""
        self._room = -1
        """The width the layout was fitted to."""
        self._layout: Layout = ()

    # -- the DataTable-like API ----------------------------------------------------------------

    @property
    def ordered_columns(self) -> tuple[Column, ...]:
        """All the columns, left to right (shown or not: ``get_row_at`` has a cell for each)."""
        return self._columns

    @property
    def shown_columns(self) -> tuple[tuple[Column, int], ...]:
        """The columns shown at the table's width, left to right, with their drawn widths."""
        self._fit()
        return tuple((self._columns[index], width) for index, width in self._layout)

    @property
    def row_count(self) -> int:
        """How many rows the table holds (on screen or not)."""
        return len(self._keys)

    @property
    def keys(self) -> tuple[str, ...]:
        """The rows' keys, top to bottom."""
        return tuple(self._keys)

    def get_row_at(self, index: int) -> list[Text]:
        """The cells of the row at ``index``."""
        return list(self._cells[index])

    @property
    def cursor_row(self) -> int:
        """The row the cursor is on (0 when empty)."""
        return self._cursor

    def move_cursor(self, *, row: int, scroll: bool = True) -> None:
        """Put the cursor on ``row`` (clamped), scrolling it into view if ``scroll``."""
        row = max(0, min(row, len(self._keys) - 1)) if self._keys else 0
        moved = row != self._cursor
        self._cursor = row
        if scroll:
            self._scroll_to_cursor()
        self.refresh()
        if moved:
            key = self._keys[row] if self._keys else None
            self.post_message(self.CursorMoved(self, row, key))

    # -- data ---------------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[tuple[str, tuple[Text, ...]]]) -> None:
        """Make the table hold ``rows`` (key, cells), top to bottom; keys must be unique.

        A row whose cells are the same tuple as before keeps its drawn line. The cursor stays
        on the top row if it was there, otherwise on the same key (or the nearest row).
        """
        on_key = self._keys[self._cursor] if 0 < self._cursor < len(self._keys) else None
        self._keys = [key for key, _ in rows]
        self._cells = [cells for _, cells in rows]
        self._index = {key: index for index, key in enumerate(self._keys)}
        strips = self._strips
        if len(strips) > 2 * len(self._keys) + 16:  # forget the rows that left
            self._strips = {key: strips[key] for key in self._keys if key in strips}
        self._measure(rows)
        # Never wider than the view: the layout keeps only the columns that fit.
        self.virtual_size = Size(0, len(self._keys) + 1)
        if on_key is not None and on_key in self._index:
            self._cursor = self._index[on_key]
            self._scroll_to_cursor()
        else:
            self._cursor = min(self._cursor, max(0, len(self._keys) - 1))
        self.refresh()

    def clear(self) -> None:
        """Hold no rows."""
        self.set_rows(())

    def restyle(self) -> None:
        """Draw every line again (the theme changed)."""
        self._strips = {}
        self._header = None
        self.refresh()

    # -- the columns shown ----------------------------------------------------------------------

    def _measure(self, rows: Sequence[tuple[str, tuple[Text, ...]]]) -> None:
        known = self._widths
        widths: dict[str, tuple[tuple[Text, ...], tuple[int, ...]]] = {}
        widest = [0] * len(self._columns)
        for key, cells in rows:
            was = known.get(key)
            if was is None or was[0] is not cells:
                was = (cells, tuple(cell.cell_len for cell in cells))
            widths[key] = was
            for index, width in enumerate(was[1][: len(widest)]):
                if width > widest[index]:
                    widest[index] = width
        self._widths = widths
        if tuple(widest) != self._widest:
            self._widest = tuple(widest)
            self._room = -1  # fit again at the next frame
            self.refresh()

    def _fit(self) -> None:
        """Fit the columns to the table's width now, if it or the widest values changed."""
        room = self.scrollable_content_region.width
        if room == self._room:
            return
        self._room = room
        layout = fit(self._columns, self._widest, room)
        if layout != self._layout:
            self._layout = layout
            self._strips = {}
            self._header = None

    # -- drawing ------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = {}
        self._header = None

    def render_line(self, y: int) -> Strip:
        self._fit()
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            if self._header is None:
                header_style = self.get_component_rich_style("line-table--header")
                self._header = self._draw(self._labels, header_style)
            line = self._header
        else:
            index = scroll_y + y - 1
            if index >= len(self._keys):
                return Strip.blank(width, base)
            line = self._row_strip(index)
            if index == self._cursor:
                cursor = self.get_component_rich_style("line-table--cursor")
                line = Strip(
                    [Segment(text, (style or Style()) + cursor) for text, style, _ in line],
                    line.cell_length,
                )
        return line.crop_extend(scroll_x, scroll_x + width, base)

    def _row_strip(self, index: int) -> Strip:
        key = self._keys[index]
        cells = self._cells[index]
        known = self._strips.get(key)
        if known is not None and known[0] is cells:
            return known[1]
        strip = self._draw(cells, self.rich_style)
        self._strips[key] = (cells, strip)
        return strip

    def _draw(self, cells: Sequence[Text], style: Style) -> Strip:
        segments: list[Segment] = []
        pad = " " * CELL_PADDING
        drawn = 0
        for index, width in self._layout:
            if index >= len(cells):
                continue
            text = fitted(cells[index], self._columns[index], width)
            segments.append(Segment(pad, style))
            for segment in text.render(self.app.console):
                if segment.text:
                    segments.append(Segment(segment.text, style + segment.style))
            segments.append(Segment(pad, style))
            drawn += width + 2 * CELL_PADDING
        return Strip(segments, drawn)

    # -- the cursor and scrolling -------------------------------------------------------------

    @property
    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        rows = self._visible_rows
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + rows:
            self.scroll_to(y=self._cursor - rows + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - self._visible_rows)

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + self._visible_rows)

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self._keys) - 1)
