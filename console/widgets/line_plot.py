"""``LinePlot``: one or more series drawn as lines in the terminal, in braille dots.

The desk reads equity curves and drawdowns over SSH in a plain terminal, so the plot uses only
text: each cell holds a 2x4 braille dot matrix, which gives eight times the resolution of block
characters and works in any UTF-8 terminal. Series are overlaid on one pair of axes (comparing
runs means seeing their curves on the same scale), each in a theme colour (``plot-1`` ..
``plot-4``) and in a line of its own (thin, thick, dotted, thick dotted), named in a legend
above the plot that draws a sample of each line. The lines tell the curves apart where colour
cannot: with ``NO_COLOR`` the theme colours become greys a step or two apart.

A curve of a million points is drawn from its minimum and maximum per dot column, so drawing
costs the width of the plot, not the length of the series, and no spike is lost to sampling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.reactive import reactive
from textual.widget import Widget

SERIES_VARIABLES = ("plot-1", "plot-2", "plot-3", "plot-4")
"""The theme variables the series are drawn in, in order (a fifth series reuses the first)."""

_BRAILLE_BASE = 0x2800
# Dot bit of (column 0..1, row 0..3) inside one braille cell.
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_Y_LABEL_WIDTH = 12
_LEGEND_SAMPLE = 3
"""Cells of line drawn before each series' name in the legend."""

Dot = tuple[int, int]
"""A braille dot: (column, row from the top) in dots."""


def _thin(col: int, row: int) -> tuple[Dot, ...]:
    return ((col, row),)


def _thick(col: int, row: int) -> tuple[Dot, ...]:
    # The 2x2 dots of the cell's half the dot is in: twice as wide and tall, in the same cell.
    left, top = col & ~1, row & ~1
    return ((left, top), (left + 1, top), (left, top + 1), (left + 1, top + 1))


def _dotted(col: int, row: int) -> tuple[Dot, ...]:
    # The cell's left dot column only: a flat line shows one dot per cell, not two.
    return ((col & ~1, row),)


def _thick_dotted(col: int, row: int) -> tuple[Dot, ...]:
    top = row & ~1
    return ((col & ~1, top), (col & ~1, top + 1))


LINE_STYLES = (_thin, _thick, _dotted, _thick_dotted)
"""How each series' dots are drawn, in order (a fifth series reuses the first). Each maps a dot
to dots of the same cell, never none: every column the curve passes through keeps a mark, so a
spike stays visible whatever the style."""


@dataclass(frozen=True)
class PlotSeries:
    """A named curve: ``xs`` ascending (e.g. epoch ns), ``ys`` its values."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]


def epoch_ns_label(value: float) -> str:
    """An x-axis label for epoch-ns values: the UTC date and minute."""
    return dt.datetime.fromtimestamp(value / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")


def number_label(value: float) -> str:
    """A y-axis label: thousands-separated, decimals only where the values are small."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}"


def percent_label(value: float) -> str:
    """A y-axis label for fractions (drawdown): ``-3.25%``."""
    return f"{value:.2%}"


class LinePlot(Widget):
    """Overlaid line series with y labels at the left and the x range underneath."""

    DEFAULT_CSS = """
    LinePlot {
        height: 12;
        width: 1fr;
    }
    """

    series: reactive[tuple[PlotSeries, ...]] = reactive((), always_update=True)
    """What is drawn; assign a new tuple to redraw."""

    def __init__(
        self,
        title: str = "",
        *,
        x_label: Callable[[float], str] = epoch_ns_label,
        y_label: Callable[[float], str] = number_label,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.title = title
        self.x_label = x_label
        self.y_label = y_label

    def on_mount(self) -> None:
        # Colours come from the theme: redraw when it changes.
        self.watch(self.app, "theme", lambda _theme: self.refresh(), init=False)

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        colours = [self._colour(variable) for variable in SERIES_VARIABLES]
        return render_plot(
            self.series,
            width,
            height,
            title=self.title,
            colours=colours,
            x_label=self.x_label,
            y_label=self.y_label,
        )

    def _colour(self, variable: str) -> str | None:
        value = self.app.theme_variables.get(variable)
        if value is None:
            return None
        try:
            return Color.parse(value).hex
        except ColorParseError:
            return None


def render_plot(
    series: Sequence[PlotSeries],
    width: int,
    height: int,
    *,
    title: str = "",
    colours: Sequence[str | None] = (),
    x_label: Callable[[float], str] = epoch_ns_label,
    y_label: Callable[[float], str] = number_label,
) -> Text:
    """The plot as Rich text of ``height`` lines of ``width`` cells (pure: tests read it)."""
    text = Text(no_wrap=True, overflow="crop", end="")
    legend = Text(title + ("  " if title else ""), style="bold", end="")
    for index, one in enumerate(series):
        legend.append(legend_sample(index) + " ", style=_style(colours, index))
        legend.append(f"{one.name}  ")
    text.append_text(legend)
    plot_height = height - 2  # the legend above, the x range below
    plot_width = width - _Y_LABEL_WIDTH - 1
    # Each keeps its series' index: a series without data leaves its colour and line unused,
    # so the curves keep the look the legend gives them.
    indexed = [(index, *_finite(one)) for index, one in enumerate(series)]
    indexed = [(index, xs, ys) for index, xs, ys in indexed if len(xs)]
    arrays = [(xs, ys) for _, xs, ys in indexed]
    if plot_height < 1 or plot_width < 4 or not arrays:
        text.append("\n" + ("no data" if not arrays else ""))
        return text
    x_min = min(float(xs[0]) for xs, _ in arrays)
    x_max = max(float(xs[-1]) for xs, _ in arrays)
    y_min = min(float(ys.min()) for _, ys in arrays)
    y_max = max(float(ys.max()) for _, ys in arrays)
    if y_max == y_min:
        y_min, y_max = y_min - 1.0, y_max + 1.0
    dots_x, dots_y = plot_width * 2, plot_height * 4
    cells = np.zeros((plot_height, plot_width), dtype=np.int32)
    owner = np.full((plot_height, plot_width), -1, dtype=np.int32)
    for index, xs, ys in indexed:
        style = LINE_STYLES[index % len(LINE_STYLES)]
        for path_col, path_row in _dot_path(xs, ys, x_min, x_max, y_min, y_max, dots_x, dots_y):
            for col, row in style(path_col, path_row):
                cell_row, cell_col = row // 4, col // 2
                cells[cell_row, cell_col] |= _DOT_BITS[col % 2][row % 4]
                owner[cell_row, cell_col] = index
    labels = {0: y_label(y_max), plot_height - 1: y_label(y_min)}
    if plot_height >= 5:
        labels[plot_height // 2] = y_label((y_max + y_min) / 2)
    for row in range(plot_height):
        text.append("\n")
        text.append(labels.get(row, "").rjust(_Y_LABEL_WIDTH)[-_Y_LABEL_WIDTH:] + "┤", style="dim")
        run_owner, run = -2, []
        for col in range(plot_width):
            bits = int(cells[row, col])
            who = int(owner[row, col]) if bits else -1
            if who != run_owner and run:
                _append_run(text, run, run_owner, colours)
                run = []
            run_owner = who
            run.append(chr(_BRAILLE_BASE + bits) if bits else " ")
        _append_run(text, run, run_owner, colours)
    left, right = x_label(x_min), x_label(x_max)
    gap = max(1, plot_width - len(left) - len(right))
    text.append("\n" + " " * (_Y_LABEL_WIDTH + 1) + left + " " * gap + right, style="dim")
    return text


def legend_sample(index: int) -> str:
    """A flat stretch of series ``index``'s line, as the plot draws it (for the legend)."""
    style = LINE_STYLES[index % len(LINE_STYLES)]
    bits = 0
    for path_col in (0, 1):  # a flat line on the cell's second dot row
        for col, row in style(path_col, 1):
            bits |= _DOT_BITS[col % 2][row % 4]
    return chr(_BRAILLE_BASE + bits) * _LEGEND_SAMPLE


def _append_run(text: Text, run: list[str], owner: int, colours: Sequence[str | None]) -> None:
    if run:
        text.append("".join(run), style=_style(colours, owner) if owner >= 0 else None)


def _style(colours: Sequence[str | None], index: int) -> Style:
    colour = colours[index % len(colours)] if colours else None
    return Style(color=colour)


def _finite(series: PlotSeries) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(series.xs, dtype=np.float64)
    ys = np.asarray(series.ys, dtype=np.float64)
    keep = np.isfinite(xs) & np.isfinite(ys)
    return xs[keep], ys[keep]


def _dot_path(
    xs: np.ndarray,
    ys: np.ndarray,
    x_min: float,
    x_max: float,
    y_min: float,
    y_max: float,
    dots_x: int,
    dots_y: int,
) -> list[tuple[int, int]]:
    """The dots (column, row from the top) of the curve: per column its min..max, joined."""
    span_x = (x_max - x_min) or 1.0
    cols = np.clip(((xs - x_min) / span_x * (dots_x - 1)).round().astype(np.int64), 0, dots_x - 1)
    rows = np.clip(
        ((y_max - ys) / (y_max - y_min) * (dots_y - 1)).round().astype(np.int64), 0, dots_y - 1
    )
    # Per column: the first, lowest, highest and last row (the curve's envelope in that column).
    unique_cols, starts = np.unique(cols, return_index=True)
    ends = np.append(starts[1:], len(cols))
    dots: list[tuple[int, int]] = []
    previous: tuple[int, int] | None = None
    for col, start, end in zip(unique_cols.tolist(), starts.tolist(), ends.tolist(), strict=True):
        segment = rows[start:end]
        if previous is not None:
            # Join the previous column's last dot to this column's first: a line, not dots.
            dots.extend(_line(previous, (col, int(segment[0]))))
        dots.extend((col, row) for row in range(int(segment.min()), int(segment.max()) + 1))
        previous = (col, int(segment[-1]))
    return dots


def _line(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int]]:
    """The dots from ``start`` to ``end`` (Bresenham), both included."""
    (x0, y0), (x1, y1) = start, end
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    error = dx + dy
    dots = []
    while True:
        dots.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return dots
        doubled = 2 * error
        if doubled >= dy:
            error += dy
            x0 += sx
        if doubled <= dx:
            error += dx
            y0 += sy


__all__ = [
    "LINE_STYLES",
    "SERIES_VARIABLES",
    "LinePlot",
    "PlotSeries",
    "epoch_ns_label",
    "legend_sample",
    "number_label",
    "percent_label",
    "render_plot",
]
