"""``set_label_text``: change a one-line label without a screen layout when nothing moves.

Textual lays the whole screen out again on every ``Static.update`` (the new text might change
the widget's size), and each layout pass repaints every table's scrollbars. The header's labels
are updated every second and mostly say the same thing, so this skips an unchanged text and
lays out only when the text's length (so a one-line label's width) changes.
"""

from __future__ import annotations

from textual.widgets import Static


def set_label_text(label: Static, text: str) -> None:
    """Show ``text`` in the one-line ``label``; no work if shown already, no layout if the
    width stays (a clock's ticks)."""
    shown = str(label.content)
    if shown != text:
        label.update(text, layout=len(shown) != len(text))
