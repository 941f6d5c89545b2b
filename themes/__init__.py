"""The console's look: Textual themes (``trade``) and the stylesheet that uses their variables.

``console.tcss`` names colours only as ``$variables``; the themes define them.
"""

from pathlib import Path

from themes.trade import THEMES, VARIABLES

STYLESHEET = Path(__file__).with_name("console.tcss")
"""The console's stylesheet (colours of modes, states and badges)."""

__all__ = ["STYLESHEET", "THEMES", "VARIABLES"]
