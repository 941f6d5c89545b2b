"""Order velocity: sliding one-second and one-minute windows of the orders actually sent.

Each scope (one strategy, or all together) keeps the send times of its last N orders in a
bounded deque, N being the largest of its limits. The newest N are all a window needs: an order
exceeds a limit L exactly when the L-th most recent send is still inside the window, one index
away, so a check costs the same whatever the rate. Excess is denied, never queued (as
Nautilus's own throttle does): a queued order would go out at a price nobody decided on. An
execution algorithm, which decides each child when it sends it, asks ``next_send_ns`` instead
and waits until its next child stays under the near-limit warning of every window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from core.risk.verdict import RiskBreach, Rule

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
_NONE_SENT: deque[int] = deque()  # a strategy that never sent; read, never written


@dataclass(frozen=True, slots=True)
class _Window:
    rule: Rule
    limit: int
    length_ns: int
    warn_previous: int
    """How many earlier sends inside the window make the next one a warning."""
    label: str


def _window(rule: Rule, limit: int, length_ns: int, warn_at: float, label: str) -> _Window:
    # The order being checked is one of the window's orders: it warns when it is the
    # ceil(warn_at * limit)-th, i.e. when that many minus one were sent before it.
    warn_previous = max(math.ceil(warn_at * limit - 1e-9) - 1, 0)
    return _Window(rule, limit, length_ns, warn_previous, label)


def _inside(sent: deque[int], back: int, since_ns: int) -> bool:
    # Is the back-th most recent send (1 = the newest) inside the window starting after since?
    return len(sent) >= back and sent[-back] > since_ns


def _count(sent: deque[int], since_ns: int) -> int:
    count = 0
    for ts in reversed(sent):
        if ts <= since_ns:
            break
        count += 1
    return count


class OrderRate:
    """Orders sent per strategy and in total, over the last second and minute.

    Parameters
    ----------
    per_second, per_minute : int
        Limits of one strategy (0 = no limit).
    per_second_total, per_minute_total : int
        Limits of all strategies together (0 = no limit).
    warn_at : float
        Share of a limit at which an order passes with a warning.
    """

    def __init__(
        self,
        per_second: int,
        per_minute: int,
        per_second_total: int,
        per_minute_total: int,
        warn_at: float,
    ) -> None:
        self._strategy = tuple(
            _window(rule, limit, length, warn_at, label)
            for rule, limit, length, label in (
                (Rule.VELOCITY_STRATEGY_SECOND, per_second, SECOND_NS, "second"),
                (Rule.VELOCITY_STRATEGY_MINUTE, per_minute, MINUTE_NS, "minute"),
            )
            if limit > 0
        )
        self._total = tuple(
            _window(rule, limit, length, warn_at, label)
            for rule, limit, length, label in (
                (Rule.VELOCITY_TOTAL_SECOND, per_second_total, SECOND_NS, "second"),
                (Rule.VELOCITY_TOTAL_MINUTE, per_minute_total, MINUTE_NS, "minute"),
            )
            if limit > 0
        )
        self._strategy_depth = max((w.limit for w in self._strategy), default=0)
        self._by_strategy: dict[str, deque[int]] = {}
        self._all: deque[int] = deque(maxlen=max((w.limit for w in self._total), default=0))

    def record(self, strategy_id: str, ts_ns: int) -> None:
        """Count an order of ``strategy_id`` sent at ``ts_ns``."""
        if self._strategy:
            sent = self._by_strategy.get(strategy_id)
            if sent is None:
                sent = self._by_strategy[strategy_id] = deque(maxlen=self._strategy_depth)
            _append(sent, ts_ns)
        if self._total:
            _append(self._all, ts_ns)

    def check(self, strategy_id: str, ts_ns: int, warnings: list[RiskBreach]) -> RiskBreach | None:
        """The breach if one more order of ``strategy_id`` at ``ts_ns`` exceeds a window;
        near-limit windows are appended to ``warnings``. Changes nothing."""
        sent = self._by_strategy.get(strategy_id, _NONE_SENT)
        for window in self._strategy:
            breach = _check(window, sent, ts_ns, warnings, strategy_id)
            if breach is not None:
                return breach
        for window in self._total:
            breach = _check(window, self._all, ts_ns, warnings, None)
            if breach is not None:
                return breach
        return None

    def next_send_ns(self, strategy_id: str, ts_ns: int) -> int:
        """The earliest time from ``ts_ns`` on at which one more order of ``strategy_id``
        stays below the near-limit warning of every window (the strategy's and the total):
        the pace an algorithm keeps so that its children wait rather than be denied."""
        sent = self._by_strategy.get(strategy_id, _NONE_SENT)
        earliest = ts_ns
        for windows, times in ((self._strategy, sent), (self._total, self._all)):
            for window in windows:
                back = max(window.warn_previous, 1)
                if len(times) >= back:
                    earliest = max(earliest, times[-back] + window.length_ns + 1)
        return earliest

    def copy(self) -> OrderRate:
        """An independent copy: a batch (a preview) is checked as if each allowed order were
        sent, without counting any of them for real."""
        twin = object.__new__(OrderRate)
        twin._strategy = self._strategy
        twin._total = self._total
        twin._strategy_depth = self._strategy_depth
        twin._by_strategy = {
            key: deque(sent, sent.maxlen) for key, sent in self._by_strategy.items()
        }
        twin._all = deque(self._all, self._all.maxlen)
        return twin


def _append(sent: deque[int], ts_ns: int) -> None:
    # The windows need sorted times; a clock that steps back (never, in Nautilus) is taken as
    # "now", which counts the order for at least as long as it really should.
    if sent and ts_ns < sent[-1]:
        ts_ns = sent[-1]
    sent.append(ts_ns)


def _check(
    window: _Window,
    sent: deque[int],
    ts_ns: int,
    warnings: list[RiskBreach],
    strategy_id: str | None,
) -> RiskBreach | None:
    # strategy_id None: the window of all strategies together.
    since = ts_ns - window.length_ns
    if _inside(sent, window.limit, since):
        who = "all strategies" if strategy_id is None else f"strategy {strategy_id}"
        count = _count(sent, since) + 1
        return RiskBreach(
            window.rule,
            f"{count} orders of {who} in one {window.label} with this one, over the limit "
            f"{window.limit} per {window.label}",
            float(count),
            float(window.limit),
        )
    if window.warn_previous == 0 or _inside(sent, window.warn_previous, since):
        who = "all strategies" if strategy_id is None else f"strategy {strategy_id}"
        count = _count(sent, since) + 1
        warnings.append(
            RiskBreach(
                window.rule,
                f"{count} orders of {who} in one {window.label} with this one, "
                f"{count / window.limit:.0%} of the limit {window.limit} per {window.label}",
                float(count),
                float(window.limit),
            )
        )
    return None
