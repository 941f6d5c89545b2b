"""Benchmark: the console's responsiveness while backtests launched from it run.

Prints figures; asserts nothing. The console runs headless (``app.run_test``) over a fresh OMS,
with the dashboard on screen. Three phases, each ``--seconds`` long: idle, one launched
backtest running, two running. The backtests are launched as an operator launches them: ``b``,
the Backtests screen's form, ctrl+r (each in its own spawned process, progress coming back to
the console as messages), then Escape back to the dashboard; a phase starts once every run is
simulating (past its process start and data loading) and the bench says whether they all were
still simulating when it ended. The runs are full-tick over ``--trades-per-day`` BTC trades a
day for 3 days, with ``[oms] record_backtests = false`` (their run state is still recorded).
During each phase:

- **key -> screen**: Tab (next pane), the next one ``--key-interval`` s after a key's frame.
  The time runs from just before the key event is posted (as a terminal driver posts it) to
  the end of the first screen update drawn after the focus has moved: the compositor's render
  of the changed regions and its encoding into the terminal string (headless, Textual skips
  that encoding and the write; the bench does the encoding itself so its cost is counted; the
  bytes go nowhere, so the terminal's and SSH's own time is not in the figure).
- **pane update lag**: a feeder process playing the node writes new orders to the OMS at
  ``--rate`` records/s (``bench_console``'s feeder); the lag runs from the record's commit to
  the Orders pane's table holding its row (and from its submit, which adds the node side's
  batching) - ``bench_console``'s measure.
- the console process's CPU use (the backtests' processes are not in it).

Target (issue 8): key -> screen p99 under 50 ms while backtests run. The machine has 2 cores:
with two backtests, the console shares them with two busy processes (and, on a shared machine,
with whatever else runs: the load average is printed).

Usage: ``uv run python bench/bench_console_backtest.py [--seconds S] [--size 160x48]
[--rate N] [--key-interval S] [--trades-per-day N]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import psutil

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
import console  # noqa: E402, F401  (first: it sets Textual's frame rate, as the executable does)

FRAME_RATE = int(os.environ["TEXTUAL_FPS"])
"""The console's frame rate in this run (``console.FRAME_RATE`` unless the environment's)."""

sys.path.insert(0, str(ROOT))

from bench_console import Latencies, figures, run_phase  # noqa: E402
from textual import events  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402

from console.app import TradeConsoleApp  # noqa: E402
from console.screens.backtests import BacktestsScreen  # noqa: E402
from console.screens.dashboard import GRID_MIN_HEIGHT, GRID_MIN_WIDTH  # noqa: E402
from core.config import AppConfig  # noqa: E402
from core.data.demo_data import generate_demo_data  # noqa: E402
from core.oms import OmsStore  # noqa: E402

BTC = "BTCUSDT.BINANCE"
DAYS = 3
FIRST_DAY = dt.date(2026, 1, 5)
SETTLE_TIMEOUT_S = 90.0


class KeyTimer:
    """Times key presses to the first screen update drawn after the focus has moved."""

    def __init__(self, app: TradeConsoleApp) -> None:
        self.app = app
        self.samples: list[float] = []
        self.missed = 0
        self._moved: Callable[[], bool] | None = None
        self._drawn: asyncio.Event | None = None
        self._drawn_ns = 0
        display = app._display

        def timed_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is None:
                return
            render_segments = getattr(renderable, "render_segments", None)
            if render_segments is not None:
                render_segments(app.console)  # the encoding headless mode skips
            if self._moved is not None and self._drawn is not None and self._moved():
                self._drawn_ns = time.perf_counter_ns()
                self._moved = None
                self._drawn.set()

        app._display = timed_display  # type: ignore[method-assign]

    async def press(self, key: str, char: str | None) -> None:
        """Press ``key``; record the time to the frame showing its effect (2 s at most).

        The key goes in as a terminal driver sends it (``driver.send_message``), not through
        ``Pilot.press``, whose waits for the app to go idle would space the samples out.
        """
        before = self.app.focused
        self._drawn = asyncio.Event()
        self._moved = lambda: self.app.focused is not before
        event = events.Key(key, char)
        event.set_sender(self.app)
        assert self.app._driver is not None
        started = time.perf_counter_ns()
        self.app._driver.send_message(event)
        try:
            await asyncio.wait_for(self._drawn.wait(), 2.0)
        except TimeoutError:
            self.missed += 1
            self._moved = None
            return
        self.samples.append((self._drawn_ns - started) / 1e6)

    def take(self) -> tuple[list[float], int]:
        taken, missed = sorted(self.samples), self.missed
        self.samples, self.missed = [], 0
        return taken, missed


def bench_config(folder: Path, data_root: str) -> AppConfig:
    config = AppConfig()
    replace = msgspec.structs.replace
    end = FIRST_DAY + dt.timedelta(days=DAYS)
    return replace(
        config,
        data=replace(config.data, root=data_root),
        results=replace(config.results, root=str(folder / "results")),
        logging=replace(config.logging, directory=str(folder / "logs")),
        oms=replace(config.oms, database=str(folder / "oms.sqlite"), record_backtests=False),
        backtest=replace(
            config.backtest,
            instruments=(BTC,),
            start=f"{FIRST_DAY}T00:00:00Z",
            end=f"{end}T00:00:00Z",
            mode="full",
        ),
    )


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.05)
    return True


async def launch(pilot: Pilot, count: int) -> tuple[BacktestsScreen, list[int]]:
    """Launch ``count`` runs from the Backtests screen, back to the dashboard once simulating;
    the screen and the runs' processes' nice values (``core.runs.launcher.LAUNCH_NICE``)."""
    await pilot.press("b")
    screen = pilot.app.screen
    assert isinstance(screen, BacktestsScreen), screen
    await until(pilot, lambda: bool(screen.query(Input)), 10.0)
    for _ in range(count):
        before = len(screen.runs)
        screen.query_one("#instruments", Input).focus()
        await pilot.press("ctrl+r")
        await until(pilot, lambda before=before: len(screen.runs) > before, 10.0)
    await pilot.press("escape")
    ok = await until(
        pilot,
        lambda: all(run.state == "running" or run.over for run in screen.runs.values()),
        SETTLE_TIMEOUT_S,
    )
    if not ok:
        raise RuntimeError("the launched runs did not reach their simulation in time")
    nice: list[int] = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):  # a run's process, not the tracker
                nice.append(child.nice())
        except psutil.Error:  # ended meanwhile
            continue
    return screen, nice


async def cancel_all(pilot: Pilot, screen: BacktestsScreen) -> None:
    for key in screen.launcher.running:
        screen.launcher.cancel(key)
    await until(pilot, lambda: all(run.over for run in screen.runs.values()), 30.0)


async def phase(
    keys: KeyTimer,
    latencies: Latencies,
    path: str,
    args: argparse.Namespace,
    first: int,
) -> tuple[list[str], float]:
    """Feed the OMS and press keys for ``args.seconds``; the pane lines and the console's CPU."""
    stop = asyncio.Event()

    async def typing() -> None:
        while not stop.is_set():
            await keys.press("tab", "\t")
            await asyncio.sleep(args.key_interval)

    typist = asyncio.create_task(typing())
    try:
        lines, cpu = await run_phase(path, args.rate, args.seconds, first, latencies)
    finally:
        stop.set()
        await typist
    return lines, cpu


async def main(args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(
        f"console at {args.size[0]}x{args.size[1]} (nice {os.nice(0)}, {FRAME_RATE} fps), "
        f"{psutil.cpu_count()} cores, load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at start"
    )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        data_root = str(folder / "data")
        started = time.perf_counter()
        generate_demo_data(
            data_root, days=DAYS, first_day=FIRST_DAY, trades_per_day={BTC: args.trades_per_day}
        )
        ticks = DAYS * args.trades_per_day
        print(
            f"data: {ticks:,} BTC trades over {DAYS} days ({time.perf_counter() - started:.1f} s)"
        )
        config = bench_config(folder, data_root)
        path = config.oms.location
        latencies = Latencies()
        async with await OmsStore.open(path) as store:
            app = TradeConsoleApp(config, store=store, tune_gc=True)
            async with app.run_test(size=args.size, message_hook=latencies.hook) as pilot:
                keys = KeyTimer(app)
                await pilot.pause(1.0)
                screen: BacktestsScreen | None = None
                first = 0
                for running in (0, 1, 2):
                    if screen is not None:  # fresh runs for each phase: all mid-run in it
                        await cancel_all(pilot, screen)
                    if running:
                        screen, nice = await launch(pilot, running)
                        print(f"  launched runs' processes at nice {nice}")
                    active = [r for r in screen.runs.values() if not r.over] if screen else []
                    keys.take()
                    latencies.take()
                    lines, cpu = await phase(keys, latencies, path, args, first)
                    first += 10_000_000
                    taken, missed = keys.take()
                    still = sum(run.state == "running" for run in active)
                    what = "idle" if running == 0 else f"{running} backtest(s) running"
                    tail = f", {still}/{running} still simulating at the end" if running else ""
                    load = os.getloadavg()[0]
                    print(
                        f"  {what}: {args.seconds:.0f} s, console CPU {cpu * 100:.0f}%, "
                        f"load average {load:.1f}{tail}"
                    )
                    print(
                        f"    key -> screen (Tab): {figures(taken)} ({len(taken)} keys; "
                        f"no frame within 2 s: {missed})"
                    )
                    print("\n".join(lines))
                    if args.size[0] < GRID_MIN_WIDTH or args.size[1] < GRID_MIN_HEIGHT:
                        print(
                            "    (one pane at a time at this size, and Tab changes it: a row "
                            "waits for its pane to be shown, so these lags are not the pane's)"
                        )
                if screen is not None:
                    await cancel_all(pilot, screen)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase (default 20)")
    parser.add_argument("--size", default="160x48", help="terminal size (default 160x48)")
    parser.add_argument("--rate", type=int, default=100, help="OMS records/s fed (default 100)")
    parser.add_argument(
        "--key-interval",
        type=float,
        default=0.2,
        help="seconds from a key's frame to the next key (default 0.2: a brisk operator)",
    )
    parser.add_argument(
        "--trades-per-day", type=int, default=1_000_000, help="BTC trades a day (default 1M)"
    )
    options = parser.parse_args()
    width, height = options.size.split("x")
    options.size = (int(width), int(height))
    asyncio.run(main(options))
