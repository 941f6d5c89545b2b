"""Every theme's borders and text stay visible in terminals with fewer colours.

A terminal without truecolor (tmux with ``COLORTERM`` unset: 256 colours; ``TERM=screen``: 16)
gets each colour as Rich reduces it, to the nearest palette entry. Two shades a few steps apart
in truecolor can become one entry: the dark theme's unfocused border (Textual's default, the
surface 2.5% darker) and its background both became xterm colour 16, black on black.
"""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem
from textual.color import Color
from textual.theme import Theme

from themes.trade import THEMES

PAIRS = (
    ("border-blurred", "background"),
    ("border", "background"),
    ("border", "border-blurred"),
    ("foreground", "background"),
    ("foreground", "surface"),
    ("foreground", "panel"),
)
"""(drawn, drawn on): a pane's border on the screen, the focused border against an unfocused
one (which pane has the focus), text on the screen, on a table and on the header."""


def reduced(hex_colour: str, system: ColorSystem) -> int:
    """The palette number a ``system`` terminal shows for ``hex_colour`` (Rich's reduction)."""
    colour = RichColor.parse(Color.parse(hex_colour).hex[:7]).downgrade(system)
    assert colour.number is not None
    return colour.number


def test_the_reduction_finds_the_black_on_black_of_the_issue() -> None:
    # The two shades the issue found in tmux: the check below must be able to fail.
    assert reduced("#10161C", ColorSystem.EIGHT_BIT) == reduced("#0D1117", ColorSystem.EIGHT_BIT)


@pytest.mark.parametrize("system", [ColorSystem.EIGHT_BIT, ColorSystem.STANDARD], ids=["256", "16"])
@pytest.mark.parametrize("theme", THEMES, ids=[theme.name for theme in THEMES])
def test_borders_and_text_differ_from_what_they_are_drawn_on_at_256_and_16_colours(
    theme: Theme, system: ColorSystem
) -> None:
    colours = theme.to_color_system().generate()
    alike = [
        (drawn, on, colours[drawn], colours[on])
        for drawn, on in PAIRS
        if reduced(colours[drawn], system) == reduced(colours[on], system)
    ]
    assert alike == []
