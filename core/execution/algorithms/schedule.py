"""Pure schedule arithmetic shared by the TWAP and VWAP algorithms: when children go, and how
much each is meant to have done by then.

Kept free of Nautilus so it can be checked against hand-worked numbers: the algorithms only
turn these lists into orders.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

NANOS_PER_SECOND = 1_000_000_000


def slot_count(horizon_secs: float, interval_secs: float) -> int:
    """Children over the horizon: one at the start and one per whole interval after it that
    still starts inside the horizon (600 s at 60 s: 10)."""
    return max(1, math.floor(horizon_secs / interval_secs + 1e-9))


def slot_times(
    start_ns: int, count: int, interval_secs: float, jitter: float = 0.0, seed: int = 0
) -> list[int]:
    """When each child goes: ``start_ns`` then every ``interval_secs``; with ``jitter`` > 0
    each time between the first and the last moves within +-``jitter``/2 of an interval
    around its place on the grid (seeded: the same seed, the same times).

    So every gap stays within +-``jitter`` of the interval, the first child still goes at
    once and the last at ``start + (count - 1) * interval``: randomising hides the clock from
    other participants without stretching the horizon.
    """
    interval_ns = interval_secs * NANOS_PER_SECOND
    rng = random.Random(seed)
    times = []
    for i in range(count):
        shift = rng.uniform(-1.0, 1.0) * jitter / 2 if 0 < i < count - 1 and jitter > 0 else 0.0
        times.append(start_ns + round((i + shift) * interval_ns))
    return times


def cumulative_targets(total: float, weights: Sequence[float], lot: float) -> list[float]:
    """How much should be done after each slot, in whole lots: the running sum of
    ``total * weight`` (weights normalised), floored to ``lot``, the last exactly ``total``.

    Flooring the running sum rather than each slice keeps every slice within one lot of its
    share and puts the rounding remainder in the last slice, never beyond ``total``.
    """
    if not weights:
        raise ValueError("no slots to schedule")
    norm = sum(weights)
    if norm <= 0:
        weights = [1.0] * len(weights)
        norm = float(len(weights))
    lots = round(total / lot)
    running = 0.0
    targets: list[float] = []
    for weight in weights[:-1]:
        running += weight / norm
        targets.append(math.floor(lots * running + 1e-9) * lot)
    targets.append(lots * lot)
    return targets


def slices(targets: Sequence[float]) -> list[float]:
    """The size of each slot's child from the cumulative targets."""
    return [b - a for a, b in zip([0.0, *targets[:-1]], targets, strict=True)]


def merge_small(targets: Sequence[float], minimum: float, lot: float) -> list[float]:
    """``targets`` with no slice below ``minimum`` (the venue's minimum quantity, or its
    minimum notional at the price, in units): a slot whose slice would be too small sends
    nothing and its share rolls into the next; a tail too small is merged into the slice
    before it. A parent under two minimums goes whole in the first slot, as one order.

    The venue would deny a slice under its minimum, and a denied child stops the parent: so
    the schedule bends (fewer, larger slices) rather than send what cannot trade.
    """
    total = targets[-1]
    floor = minimum - lot / 2
    if total < 2 * minimum - lot / 2:
        return [total] * len(targets)
    merged: list[float] = []
    done = 0.0
    for target in targets[:-1]:
        if target - done >= floor and total - target >= floor:
            done = target
        merged.append(done)
    merged.append(total)
    return merged
