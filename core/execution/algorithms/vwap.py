"""``VwapExecAlgorithm``: a parent worked along the instrument's usual volume by time of day.

Children go every ``interval_secs`` over ``horizon_secs``; each slot's share of the parent is
the share of the day's volume the instrument usually trades in that slot's interval
(``core.execution.algorithms.profile``), so the parent trades more when the market does. The profile
comes from ``profiles`` when given (a test, a bench), else it is built once per instrument from the
desk's trades of the ``lookback_days`` before the order's day under ``data_root``. No history
at all: even slices (a TWAP) and a warning. A participation cap, limit children and the pre-trade
gate work as in the TWAP (``core.execution.algorithms.scheduled``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from nautilus_trader.model.identifiers import ExecAlgorithmId

from core.execution.algorithms.parent import ParentWork
from core.execution.algorithms.profile import load_profile, slot_weights
from core.execution.algorithms.schedule import NANOS_PER_SECOND, slot_count, slot_times
from core.execution.algorithms.scheduled import ScheduledExecAlgorithm, ScheduledExecAlgorithmConfig

VWAP_ID = "VWAP"


class VwapExecAlgorithmConfig(ScheduledExecAlgorithmConfig, frozen=True):
    """Defaults of every VWAP parent (``[execution]``) and where its profiles come from."""

    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId(VWAP_ID)
    bucket_secs: int = 300
    lookback_days: int = 5
    data_root: str = ""
    """The desk's data root the profiles are built from (empty: only ``profiles``)."""
    profiles: dict[str, tuple[float, ...]] = msgspec.field(default_factory=dict)
    """Ready profiles by instrument id (fractions per ``bucket_secs`` bucket of the day)."""


class VwapExecAlgorithm(ScheduledExecAlgorithm):
    """Volume-weighted: slot shares follow the time-of-day volume profile."""

    def __init__(self, config: VwapExecAlgorithmConfig | None = None) -> None:
        super().__init__(config or VwapExecAlgorithmConfig())
        self._profiles: dict[str, tuple[float, ...]] = dict(self.config.profiles)

    def use_profiles(self, profiles: dict[str, tuple[float, ...]]) -> None:
        """Take ready profiles (built off the event loop at a node's start), so no parent
        reads files on the loop; an empty one slices evenly, as with no history."""
        for instrument_id, profile in profiles.items():
            if not profile:
                self.log.warning(f"no volume history for {instrument_id}: VWAP slices evenly")
            self._profiles[instrument_id] = profile

    def profile(self, instrument_id: str, now_ns: int) -> tuple[float, ...]:
        """The instrument's profile, built on first use from the days before ``now_ns``."""
        if instrument_id not in self._profiles:
            profile: tuple[float, ...] = ()
            if self.config.data_root:
                day = dt.datetime.fromtimestamp(now_ns / NANOS_PER_SECOND, dt.UTC).date()
                profile = load_profile(
                    self.config.data_root,
                    instrument_id,
                    day,
                    self.config.lookback_days,
                    self.config.bucket_secs,
                )
            if not profile:
                self.log.warning(f"no volume history for {instrument_id}: VWAP slices evenly")
            self._profiles[instrument_id] = profile
        return self._profiles[instrument_id]

    def plan(
        self, work: ParentWork, params: dict[str, Any], horizon: float, interval: float
    ) -> tuple[list[int], list[float]]:
        now = self.clock.timestamp_ns()
        times = slot_times(now, slot_count(horizon, interval), interval)
        profile = self.profile(str(work.instrument.id), now)
        return times, slot_weights(profile, times, interval, self.config.bucket_secs)
