"""The desk's three themes: dark, light and high-contrast, with the console's own variables.

Every colour the console shows comes from here. Stylesheets name ``$variables`` only, and table
cells (Rich text, which cannot read CSS) look the same variables up in the running theme, so a
theme switch recolours everything, and a fourth theme is one more ``Theme`` with the same keys.

The extra variables say what a colour *means* (a PnL going up, a LIVE node, a halted desk), not
what it is: each theme picks its own shade, and the high-contrast one pure, saturated colours
with black or white text on every badge.

Borders and text are chosen to stay apart from what they are drawn on once a terminal of 256 or
16 colours has rounded them to its palette (tmux without ``COLORTERM``; ``TERM=screen``):
``tests/themes/test_trade_themes.py`` reduces them as Rich does and checks.
"""

from __future__ import annotations

from textual.theme import Theme

VARIABLES = (
    "pnl-up",
    "pnl-down",
    "mode-live",
    "mode-live-text",
    "mode-shadow",
    "mode-shadow-text",
    "mode-backtest",
    "mode-backtest-text",
    "state-active",
    "state-reducing",
    "state-halted",
    "health-ok",
    "health-warn",
    "health-down",
    "health-none",
    "status-open",
    "status-done",
    "status-closed",
    "status-bad",
    "severity-info",
    "severity-warning",
    "severity-critical",
    "drift-over",
    "muted",
    "plot-1",
    "plot-2",
    "plot-3",
    "plot-4",
)
"""The variables every console theme defines (a test checks each theme has them all)."""

TRADE_DARK = Theme(
    name="trade-dark",
    primary="#4C8DFF",
    secondary="#2F6FEB",
    accent="#E3B341",
    warning="#D29922",
    error="#F85149",
    success="#3FB950",
    foreground="#E6EDF3",
    background="#0D1117",
    surface="#161B22",
    panel="#1F2630",
    dark=True,
    variables={
        "pnl-up": "#3FB950",
        "pnl-down": "#F85149",
        "mode-live": "#DA3633",
        "mode-live-text": "#FFFFFF",
        "mode-shadow": "#A371F7",
        "mode-shadow-text": "#0D1117",
        "mode-backtest": "#388BFD",
        "mode-backtest-text": "#0D1117",
        "state-active": "#3FB950",
        "state-reducing": "#D29922",
        "state-halted": "#F85149",
        "health-ok": "#3FB950",
        "health-warn": "#D29922",
        "health-down": "#F85149",
        "health-none": "#8B949E",
        "status-open": "#58A6FF",
        "status-done": "#3FB950",
        "status-closed": "#8B949E",
        "status-bad": "#F85149",
        "severity-info": "#58A6FF",
        "severity-warning": "#D29922",
        "severity-critical": "#F85149",
        "drift-over": "#F0883E",
        "muted": "#8B949E",
        "plot-1": "#58A6FF",
        "plot-2": "#E3B341",
        "plot-3": "#A371F7",
        "plot-4": "#3FB950",
        # Textual's default (the surface, 2.5% darker) maps to the background's colour in a
        # 256- or 16-colour terminal: unfocused panes lost their borders there.
        "border-blurred": "#30363D",
    },
)

TRADE_LIGHT = Theme(
    name="trade-light",
    primary="#0969DA",
    secondary="#0550AE",
    accent="#9A6700",
    warning="#9A6700",
    error="#CF222E",
    success="#1A7F37",
    foreground="#1F2328",
    background="#F6F8FA",
    surface="#FFFFFF",
    panel="#EAEEF2",
    dark=False,
    variables={
        "pnl-up": "#1A7F37",
        "pnl-down": "#CF222E",
        "mode-live": "#CF222E",
        "mode-live-text": "#FFFFFF",
        "mode-shadow": "#8250DF",
        "mode-shadow-text": "#FFFFFF",
        "mode-backtest": "#0969DA",
        "mode-backtest-text": "#FFFFFF",
        "state-active": "#1A7F37",
        "state-reducing": "#9A6700",
        "state-halted": "#CF222E",
        "health-ok": "#1A7F37",
        "health-warn": "#9A6700",
        "health-down": "#CF222E",
        "health-none": "#6E7781",
        "status-open": "#0969DA",
        "status-done": "#1A7F37",
        "status-closed": "#6E7781",
        "status-bad": "#CF222E",
        "severity-info": "#0969DA",
        "severity-warning": "#9A6700",
        "severity-critical": "#CF222E",
        "drift-over": "#BC4C00",
        "muted": "#6E7781",
        "plot-1": "#0969DA",
        "plot-2": "#9A6700",
        "plot-3": "#8250DF",
        "plot-4": "#1A7F37",
        # A mid grey: GitHub's #D0D7DE turns white (the background) at 16 colours.
        "border-blurred": "#AFB8C1",
    },
)

TRADE_HIGH_CONTRAST = Theme(
    name="trade-high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FFFF00",
    warning="#FFFF00",
    error="#FF4040",
    success="#00FF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1A1A1A",
    dark=True,
    luminosity_spread=0.3,
    text_alpha=1.0,
    variables={
        "pnl-up": "#00FF00",
        "pnl-down": "#FF4040",
        "mode-live": "#FF0000",
        "mode-live-text": "#FFFFFF",
        "mode-shadow": "#FFFF00",
        "mode-shadow-text": "#000000",
        "mode-backtest": "#00FFFF",
        "mode-backtest-text": "#000000",
        "state-active": "#00FF00",
        "state-reducing": "#FFFF00",
        "state-halted": "#FF4040",
        "health-ok": "#00FF00",
        "health-warn": "#FFFF00",
        "health-down": "#FF4040",
        "health-none": "#C0C0C0",
        "status-open": "#00FFFF",
        "status-done": "#00FF00",
        "status-closed": "#C0C0C0",
        "status-bad": "#FF4040",
        "severity-info": "#00FFFF",
        "severity-warning": "#FFFF00",
        "severity-critical": "#FF4040",
        "drift-over": "#FF8000",
        "muted": "#C0C0C0",
        "plot-1": "#00FFFF",
        "plot-2": "#FFFF00",
        "plot-3": "#FF00FF",
        "plot-4": "#00FF00",
        "border": "#FFFFFF",
        "border-blurred": "#808080",
    },
)

THEMES = (TRADE_DARK, TRADE_LIGHT, TRADE_HIGH_CONTRAST)
"""Registered by the console in this order; ``config.console.theme`` names one of them."""
