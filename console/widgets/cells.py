"""How values look in the panes' tables: times, numbers, and words coloured by theme variables.

Table cells are Rich text, which cannot read the stylesheet, so a coloured cell looks its
colour up by variable name in the running theme (``App.theme_variables``); a pane re-renders its
rows when the theme changes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError

DASH = "-"
"""What a cell shows for a value the OMS does not have (yet)."""


def themed(
    text: str, variable: str | None, variables: Mapping[str, str], *, bold: bool = False
) -> Text:
    """``text`` in the colour of theme variable ``variable`` (plain when it is None or unset)."""
    color = None
    if variable is not None and variable in variables:
        try:
            color = Color.parse(variables[variable]).rich_color
        except ColorParseError:
            color = None
    return Text(text, style=Style(color=color, bold=bold or None), end="")


def utc_time(ns: int) -> str:
    """``HH:MM:SS`` (UTC) of an epoch-ns timestamp: the panes show today's events."""
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%H:%M:%S")


def utc_date(ns: int) -> str:
    """``YYYY-MM-DD`` (UTC) of an epoch-ns timestamp."""
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d")


def number(value: float | None, decimals: int = 2) -> str:
    """Thousands-separated ``value``; ``-`` when missing or not finite."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:,.{decimals}f}"


def quantity(value: float | None) -> str:
    """A quantity with the digits it needs (0.001 BTC, 12 ETH), up to eight decimals."""
    if value is None or not math.isfinite(value):
        return DASH
    text = f"{value:,.8f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def price(value: float | None) -> str:
    """A price with enough decimals for small-priced instruments, few for large ones."""
    if value is None or not math.isfinite(value):
        return DASH
    magnitude = abs(value)
    decimals = 2 if magnitude >= 100 else 4 if magnitude >= 1 else 6
    return f"{value:,.{decimals}f}"


def pnl(value: float | None, variables: Mapping[str, str]) -> Text:
    """Money, green above zero, red below (by the theme's ``pnl-up`` / ``pnl-down``)."""
    if value is None or not math.isfinite(value):
        return Text(DASH, end="")
    variable = "pnl-up" if value > 0 else "pnl-down" if value < 0 else None
    return themed(f"{value:+,.2f}", variable, variables)


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal; ``-`` when missing."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value * 100:.1f}%"
