"""Where a backtest pipeline run's time goes: exclusive wall time per part, measured in-process.

``bench_backtest.py`` runs the pipeline once more with these timers on, in a fresh process,
after its timed runs: the timed runs themselves carry no instrument. Each part is a method
or function of the pipeline wrapped by ``Breakdown.wrap``; the time of a part excludes the
parts called inside it (a fill handled inside the honest client's trade handler counts as the
fill's, the OMS feed's records made inside it as the feed's), so the parts add up to the run.
What no part claims is the engine's own loop (Nautilus's matching, portfolio, message bus,
clock and strategy dispatch), reported as the remainder.

The wrappers cost time themselves (a few hundred ns a call, over millions of trade ticks):
``Breakdown.overhead_ns`` measures a wrapped call of a function that does nothing, and each
part is reported with its calls times that overhead taken off. The recording threads' CPU time
(the OMS store's event loop and its SQLite thread) is read from ``/proc`` as the run ends.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Part:
    """One part's exclusive wall time and call count."""

    seconds: float = 0.0
    calls: int = 0


@dataclass
class Breakdown:
    """Exclusive wall time per labelled part of the calling thread's work."""

    parts: dict[str, Part] = field(default_factory=dict)
    _stack: list[list[float]] = field(default_factory=list)
    overhead_ns: float = 0.0
    thread_cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each thread other than the main one, by name, read as the run ended."""

    def _enter(self) -> None:
        self._stack.append([time.perf_counter(), 0.0])

    def _leave(self, label: str) -> None:
        started, children = self._stack.pop()
        spent = time.perf_counter() - started
        part = self.parts.setdefault(label, Part())
        part.seconds += spent - children
        part.calls += 1
        if self._stack:
            self._stack[-1][1] += spent

    def timed(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` with its exclusive time counted under ``label`` (main thread only)."""
        main = threading.main_thread()

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not main:
                return function(*args, **kwargs)
            self._enter()
            try:
                return function(*args, **kwargs)
            finally:
                self._leave(label)

        return wrapper

    def timed_iterator(
        self, label: str, function: Callable[..., Iterator[Any]]
    ) -> Callable[..., Iterator[Any]]:
        """``function`` (returning an iterator) with the time of each ``next`` counted."""

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = iter(function(*args, **kwargs))
            while True:
                self._enter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self._leave(label)
                yield item

        return wrapper

    def wrap(self, owner: Any, name: str, label: str, iterator: bool = False) -> None:
        """Replace ``owner.name`` (a class's method or a module's function) by its timed form."""
        original = getattr(owner, name)
        wrapped = (self.timed_iterator if iterator else self.timed)(label, original)
        setattr(owner, name, wrapped)

    def calibrate(self, calls: int = 50_000) -> None:
        """Measure what one wrapped call of a no-op costs beyond the no-op itself."""

        def nothing() -> None:
            return None

        wrapped = self.timed("calibration", nothing)
        rounds = []
        for _ in range(5):  # the least of five: a loaded machine only ever adds time
            started = time.perf_counter_ns()
            for _ in range(calls):
                wrapped()
            with_timer = time.perf_counter_ns() - started
            started = time.perf_counter_ns()
            for _ in range(calls):
                nothing()
            rounds.append(max(with_timer - (time.perf_counter_ns() - started), 0) / calls)
        self.overhead_ns = min(rounds)
        del self.parts["calibration"]

    def net_seconds(self, label: str) -> float:
        """``label``'s time with its wrappers' own cost taken off."""
        part = self.parts[label]
        return max(part.seconds - part.calls * self.overhead_ns / 1e9, 0.0)

    def read_thread_cpu(self) -> None:
        """CPU seconds of this process's other threads so far (Linux ``/proc``), by name."""
        names = {t.native_id: t.name for t in threading.enumerate()}
        main_id = threading.main_thread().native_id
        ticks = os.sysconf("SC_CLK_TCK")
        for task in os.listdir("/proc/self/task"):
            tid = int(task)
            if tid == main_id:
                continue
            try:
                with open(f"/proc/self/task/{task}/stat") as stat:
                    fields = stat.read().rpartition(")")[2].split()
            except OSError:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
            name = names.get(tid)
            if name is None:  # a thread Python did not start (Rust, arrow): its OS name
                with open(f"/proc/self/task/{task}/comm") as comm:
                    name = f"native {comm.read().strip()}"
            name = re.sub(r"^Thread-\d+ ", "", name)  # "Thread-3 (worker)": one name per kind
            self.thread_cpu[name] = self.thread_cpu.get(name, 0.0) + cpu
