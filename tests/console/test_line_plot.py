"""The terminal line plot: size, scale, overlaid series, and gaps in the data."""

from __future__ import annotations

import numpy as np
import pytest
from rich.style import Style

from console.widgets.line_plot import (
    LINE_STYLES,
    PlotSeries,
    legend_sample,
    number_label,
    render_plot,
)

BRAILLE = range(0x2801, 0x2900)


def _dots(line: str) -> list[int]:
    """The columns of ``line`` holding at least one braille dot."""
    return [index for index, char in enumerate(line) if ord(char) in BRAILLE]


def test_the_plot_fills_exactly_the_size_it_is_given() -> None:
    xs = np.arange(500) * 60e9 + 1.7e18
    text = render_plot([PlotSeries("equity", xs, np.linspace(100, 200, 500))], 60, 10)
    lines = text.plain.split("\n")
    assert len(lines) == 10
    assert all(len(line) <= 60 for line in lines)


def test_a_rising_line_starts_at_the_bottom_left_and_ends_at_the_top_right() -> None:
    xs = np.arange(100, dtype=float)
    lines = render_plot([PlotSeries("up", xs, xs)], 50, 12).plain.split("\n")[1:-1]
    top, bottom = lines[0], lines[-1]
    assert _dots(top) and _dots(bottom)
    assert min(_dots(bottom)) < min(_dots(top))
    assert number_label(99.0) in top and number_label(0.0) in bottom


def test_overlaid_series_share_one_scale_and_are_named_in_the_legend() -> None:
    xs = np.arange(10, dtype=float)
    text = render_plot(
        [PlotSeries("run A", xs, xs * 0 + 1.0), PlotSeries("run B", xs, xs * 0 + 3.0)],
        40,
        10,
        colours=["#ff0000", "#00ff00"],
    )
    lines = text.plain.split("\n")
    assert "run A" in lines[0] and "run B" in lines[0]
    rows_with_dots = [i for i, line in enumerate(lines[1:-1]) if _dots(line)]
    assert rows_with_dots[0] == 0 and rows_with_dots[-1] == len(lines) - 3
    styles = [span.style for span in text.spans if isinstance(span.style, Style)]
    colours = {str(style.color.name) for style in styles if style.color}
    assert {"#ff0000", "#00ff00"} <= colours


def test_a_series_of_a_million_points_keeps_its_one_spike() -> None:
    ys = np.zeros(1_000_000)
    ys[654_321] = 10.0
    lines = render_plot([PlotSeries("s", np.arange(ys.size, dtype=float), ys)], 60, 8).plain
    assert _dots(lines.split("\n")[1])


def test_missing_values_are_skipped_and_no_data_says_so() -> None:
    ys = np.array([1.0, np.nan, 3.0, np.inf])
    assert _dots("".join(render_plot([PlotSeries("s", np.arange(4.0), ys)], 30, 6).plain))
    assert "no data" in render_plot([PlotSeries("s", [], [])], 30, 6).plain


def _plot_rows(text: str) -> list[str]:
    """The plot's rows without the legend, the y labels and the x range."""
    return [line.partition("┤")[2] for line in text.split("\n")[1:-1]]


def test_overlaid_series_are_told_apart_without_colour() -> None:
    # NO_COLOR turns the theme's plot colours into greys a step apart: the characters alone
    # must say which curve is which, and the legend must show the same characters.
    xs = np.arange(40, dtype=float)
    series = [PlotSeries(f"run {n}", xs, xs * 0 + level) for n, level in enumerate((4, 3, 2, 1))]
    plain = render_plot(series, 40, 10).plain
    legend = plain.split("\n")[0]
    drawn = []
    for index, row in enumerate(_plot_rows(plain)):
        marks = {char for char in row if ord(char) in BRAILLE}
        if marks:
            drawn.append((index, marks))
    assert len(drawn) == 4
    looks = [marks for _, marks in drawn]
    assert all(len(marks) == 1 for marks in looks)
    assert len({next(iter(marks)) for marks in looks}) == 4
    samples = [legend_sample(index)[0] for index in range(4)]
    assert len(set(samples)) == 4
    for index in range(4):
        assert f"{legend_sample(index)} run {index}" in legend


@pytest.mark.parametrize("index", range(len(LINE_STYLES)))
def test_every_line_style_keeps_a_one_point_spike(index: int) -> None:
    ys = np.zeros(100_000)
    ys[54_321] = 10.0
    xs = np.arange(ys.size, dtype=float)
    # Empty series first: the spike is drawn in the style of series ``index``.
    series = [PlotSeries(f"e{n}", [], []) for n in range(index)] + [PlotSeries("s", xs, ys)]
    top = _plot_rows(render_plot(series, 60, 8).plain)[0]
    assert _dots(top)
