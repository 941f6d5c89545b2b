"""Which columns of a table are shown at a width, and how wide: numbers whole, or not at all.

A table pane is drawn at 80 columns (an SSH terminal, or half of a 160-column grid) and at
160 (maximised). Cropping a row at the pane's edge cut numbers in two (``avg px`` read ``93``
for 93,973.61): a figure that is shown partly is worse than one not shown. So each column
says how much it matters (``priority``) and what it holds, and ``fit`` keeps, at the width
there is, the columns that fit whole, dropping the least important first:

- a number (``numeric``) is as wide as its widest value, never cut;
- a text is as wide as its widest value up to ``width``, longer ones cut with ``…`` (at the
  start for ``keep_end`` columns: an id's or a path's end tells it apart);
- a ``grow`` column (a message, an error) takes the room left over, at least ``width``;
- a text with a ``min_width`` (an id, a time) is cut down to it, rather than a column dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text

CELL_PADDING = 1
"""Blank cells either side of each column (as DataTable draws them)."""
ELLIPSIS = "…"
"""Marks a text that was cut: a cell is never cut silently."""


@dataclass(frozen=True)
class Column:
    """How a table wants one of its columns shown."""

    label: str
    width: int
    """A text's widest (longer values are cut with ``…``); a number's least; a ``grow``
    column's least."""
    priority: int = 1
    """1 is kept longest; when the columns do not fit, the highest number goes first (of
    equals, the rightmost)."""
    numeric: bool = False
    """A figure: right-aligned, never cut; its column widens to its widest value or goes."""
    grow: bool = False
    """Takes the room the other columns leave (a message): more of it shows when wider."""
    keep_end: bool = False
    """A cut keeps the end (``…0299-001``): ids and paths differ at their end."""
    min_width: int | None = None
    """A text may be cut down to this (with ``…``) before other columns go; None: no less
    than ``width`` or its widest value."""


ColumnSpec = Column | tuple[str, int]
"""A column as a table is given it: a ``Column``, or (label, width) for a plain text one."""

Layout = tuple[tuple[int, int], ...]
"""The columns shown, left to right: (index among all columns, width drawn)."""


def as_column(spec: ColumnSpec) -> Column:
    """``spec`` as a ``Column`` (a bare (label, width) is a text column of priority 1)."""
    return spec if isinstance(spec, Column) else Column(spec[0], spec[1])


def needed_width(column: Column, widest: int) -> int:
    """The width ``column`` takes when shown, its values being at most ``widest`` wide."""
    label = cell_len(column.label)
    if column.numeric:
        return max(label, column.width, widest)
    if column.grow:
        return max(label, column.width)
    return max(label, min(column.width, widest))


def least_width(column: Column, needed: int) -> int:
    """The width ``column`` may be cut down to (``needed`` when it may not be cut)."""
    if column.min_width is None or column.numeric:
        return needed
    return min(needed, max(cell_len(column.label), column.min_width))


def fit(columns: Sequence[Column], widest: Sequence[int], room: int) -> Layout:
    """The columns to show in ``room`` cells, and their widths.

    The columns that do not fit at their least width go, highest ``priority`` number first (of
    equals, the rightmost). The room left widens the cut texts back (the most important first,
    then left to right), then goes to the ``grow`` columns.
    """
    pad = 2 * CELL_PADDING
    needs = [needed_width(column, wide) for column, wide in zip(columns, widest, strict=True)]
    least = [least_width(column, need) for column, need in zip(columns, needs, strict=True)]
    kept = list(range(len(columns)))
    total = sum(least) + pad * len(kept)
    while kept and total > room:
        drop = max(kept, key=lambda index: (columns[index].priority, index))
        kept.remove(drop)
        total -= least[drop] + pad
    if not kept and columns and not columns[0].numeric and room > pad:
        return ((0, room - pad),)  # too narrow for any column whole: a text, cut with "…"
    widths = {index: least[index] for index in kept}
    left = room - total
    for index in sorted(kept, key=lambda index: (columns[index].priority, index)):
        more = min(left, needs[index] - least[index])
        widths[index] += more
        left -= more
    growing = [index for index in kept if columns[index].grow]
    for position, index in enumerate(growing):
        share = left // (len(growing) - position)
        widths[index] += share
        left -= share
    return tuple((index, widths[index]) for index in kept)


def fitted(text: Text, column: Column, width: int) -> Text:
    """``text`` (a copy) exactly ``width`` cells wide: padded, aligned, cut with ``…``.

    A number never needs a cut: its column is as wide as its widest value.
    """
    text = text.copy()
    length = text.cell_len
    if length > width and column.keep_end and width > 1:
        text = Text(ELLIPSIS, end="") + text[len(text.plain) - (width - 1) :]
    elif length > width:
        text.truncate(width, overflow="ellipsis")
    elif column.numeric:
        text.pad_left(width - length)
    text.truncate(width, pad=True)
    return text
