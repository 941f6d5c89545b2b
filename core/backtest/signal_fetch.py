"""Which signals a signal-driven backtest fetches ticks for (``[backtest] fetch``).

The desk's design fetches tick data only when a signal changes direction. A signal's
*direction* is the side of each instrument's target weight: long (> 0), short (< 0) or flat
(exactly 0). Against the targets in force before it (those of the signals before it, an
instrument a signal does not list keeping its target; before the first signal every
instrument is flat, since a run starts in cash), a signal either changes the side of at least
one instrument (a new long/short/flat decision) or changes none.

With ``fetch = "direction-change"`` a signal that changes no side is **skipped whole**: no
window of ticks, and it is not applied either (the strategy keeps the previous targets and
sends nothing). Applying it without ticks would be a rebalance at hours-old prices; carrying
its weights to the next fetched signal would trade, at that signal's time, on a decision the
service made earlier, and the next signal's own weights replace them for every instrument it
lists anyway. Skipping it whole keeps every order the answer to its own signal at its own
time. What changes against ``every-signal``: between direction changes the weights drift with
prices (nobody rebalances), so positions, and the sizes traded at the next direction change,
differ. Because a skipped signal changes no side, the sides in force are the same in both
modes at every signal, and so is the choice of signals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

EVERY_SIGNAL = "every-signal"
DIRECTION_CHANGE = "direction-change"


class _Signal(Protocol):
    @property
    def weights(self) -> Mapping[str, float]: ...


def side(weight: float) -> int:
    """+1 long, -1 short, 0 flat: the decision a target weight stands for."""
    return (weight > 0) - (weight < 0)


@dataclass(frozen=True)
class FetchPlan[S: _Signal]:
    """The signals a run fetches (and applies), in order, and how many it skipped and why."""

    fetched: list[S]
    skipped_same_side: int

    def stats(self, fetch: str) -> dict[str, object]:
        """The run's ``execution_stats`` entries for this plan."""
        return {
            "fetch": fetch,
            "signals_fetched": len(self.fetched),
            "signals_skipped_same_side": self.skipped_same_side,
        }


def plan_fetch[S: _Signal](signals: Sequence[S], fetch: str) -> FetchPlan[S]:
    """The signals ``fetch`` keeps, from ``signals`` in the order they apply.

    ``every-signal`` keeps them all; ``direction-change`` keeps those that change the side of
    at least one instrument's target in force (module docstring).
    """
    if fetch == EVERY_SIGNAL:
        return FetchPlan(list(signals), 0)
    if fetch != DIRECTION_CHANGE:
        raise ValueError(f"fetch must be {EVERY_SIGNAL!r} or {DIRECTION_CHANGE!r}, got {fetch!r}")
    sides: dict[str, int] = {}  # absent: flat (a run starts in cash)
    fetched: list[S] = []
    for signal in signals:
        new = {key: side(weight) for key, weight in signal.weights.items()}
        if any(sides.get(key, 0) != value for key, value in new.items()):
            fetched.append(signal)
            sides.update(new)
    return FetchPlan(fetched, len(signals) - len(fetched))
