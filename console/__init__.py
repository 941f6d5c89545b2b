"""The Textual console: screens, panes, commands and the ``trade-console`` entry point.

Importing the package sets Textual's frame clock to ``FRAME_RATE`` (the ``TEXTUAL_FPS`` setting,
unless the environment sets it) before Textual is imported anywhere in the console. A key's
effect waits for the next frame: at Textual's default 60 frames a second that wait was most of
the key -> screen time (bench_console_backtest, 160x48, 100 OMS records/s drawn, two backtests
running: p99 76 ms at 60, 45 ms at 120), at the same CPU (frames are drawn only when something
changed).
"""

import os

FRAME_RATE = 120
"""Frames a second at most (Textual's ``TEXTUAL_FPS``)."""

os.environ.setdefault("TEXTUAL_FPS", str(FRAME_RATE))
