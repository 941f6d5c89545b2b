"""The time-of-day volume profile the VWAP algorithm follows, built from the desk's own trades.

A profile is a tuple of fractions, one per bucket of the UTC day (288 buckets of 5 minutes by
default), summing to 1: the share of a day's volume the instrument usually trades in that
bucket. It is built once per instrument from the ``lookback_days`` before the order's day (no
look-ahead in a backtest), and turned into each child's share of the parent by
``slot_weights``, which integrates the profile over each child's interval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np

from core.data.layout import trades_path
from core.data.ticks import TickReader
from core.execution.algorithms.schedule import NANOS_PER_SECOND
from core.storage.roots import resolve

DAY_SECONDS = 86_400


def volume_profile(ts_ns: np.ndarray, sizes: np.ndarray, bucket_secs: int) -> tuple[float, ...]:
    """Fraction of the volume traded in each ``bucket_secs`` bucket of the UTC day.

    Several days fold onto one day: the profile is the desk's usual day, not any one of them.
    No volume at all gives an empty tuple (the caller spreads evenly instead).
    """
    buckets = DAY_SECONDS // bucket_secs
    if len(ts_ns) == 0:
        return ()
    seconds_of_day = (np.asarray(ts_ns, dtype=np.int64) // NANOS_PER_SECOND) % DAY_SECONDS
    index = seconds_of_day // bucket_secs
    volume = np.bincount(index, weights=np.asarray(sizes, dtype=np.float64), minlength=buckets)
    total = volume.sum()
    if total <= 0:
        return ()
    return tuple(float(v) for v in volume / total)


def slot_weights(
    profile: Sequence[float], times_ns: Sequence[int], interval_secs: float, bucket_secs: int
) -> list[float]:
    """Each child's share of the parent: the profile's volume over ``[t, t + interval)`` of
    each child's start time ``t``, normalised; an empty or silent profile gives equal shares
    (a TWAP), since no history is better served by even slices than by none."""
    if not profile:
        return [1.0] * len(times_ns)
    weights: list[float] = []
    interval_ns = round(interval_secs * NANOS_PER_SECOND)
    for start in times_ns:
        weights.append(_volume_between(profile, start, start + interval_ns, bucket_secs))
    total = sum(weights)
    if total <= 0:
        return [1.0] * len(times_ns)
    return [w / total for w in weights]


def _volume_between(
    profile: Sequence[float], start_ns: int, end_ns: int, bucket_secs: int
) -> float:
    # Buckets partly covered count pro rata: a child over half a bucket gets half its volume.
    bucket_ns = bucket_secs * NANOS_PER_SECOND
    day_ns = DAY_SECONDS * NANOS_PER_SECOND
    volume = 0.0
    at = start_ns
    while at < end_ns:
        bucket_start = at - at % bucket_ns
        upto = min(end_ns, bucket_start + bucket_ns)
        volume += profile[(at % day_ns) // bucket_ns] * (upto - at) / bucket_ns
        at = upto
    return volume


def load_profile(
    root: str, instrument_id: str, before: dt.date, lookback_days: int, bucket_secs: int
) -> tuple[float, ...]:
    """The profile of ``instrument_id`` from its trades on the ``lookback_days`` before
    ``before`` under the data ``root``; days without a file are skipped (a new listing, a
    gap), so a short history gives a profile of what there is, and none an empty one."""
    fs, root_path = resolve(root)
    reader = TickReader(root)
    stamps: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    for back in range(lookback_days, 0, -1):
        day = before - dt.timedelta(days=back)
        if not fs.exists(trades_path(root_path, day, instrument_id)):
            continue
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        table = reader.read_window(
            instrument_id, start, start + dt.timedelta(days=1), columns=["ts_event", "size"]
        )
        stamps.append(table["ts_event"].to_numpy().astype(np.int64))
        sizes.append(table["size"].to_numpy().astype(np.float64))
    if not stamps:
        return ()
    return volume_profile(np.concatenate(stamps), np.concatenate(sizes), bucket_secs)


def load_profiles(
    root: str,
    instrument_ids: Iterable[str],
    before: dt.date,
    lookback_days: int,
    bucket_secs: int,
) -> dict[str, tuple[float, ...]]:
    """``load_profile`` of each instrument (file reads: run it off the event loop, e.g. in
    ``asyncio.to_thread`` at a node's start)."""
    return {
        instrument_id: load_profile(root, instrument_id, before, lookback_days, bucket_secs)
        for instrument_id in instrument_ids
    }
