"""``TwapExecAlgorithm``: a parent split evenly over a horizon, a child every interval.

The desk's TWAP, after Nautilus's example one: market or limit children (a limit at the best or
last price moved by ``limit_offset_bps``), a participation cap (a child is at most that fraction
of the volume traded since the previous child), and optionally randomised intervals (seeded,
within +-``randomise`` of the interval) so the children show no clock. Every child passes the
owning strategy's pre-trade checks; a kill stops it (``core.execution.algorithms.base``).

Parameters per parent (``exec_algorithm_params``, defaults from the config): ``horizon_secs``,
``interval_secs``, ``child_order_type`` (``market``/``limit``), ``limit_offset_bps``,
``participation_cap``, ``randomise``, ``seed``.
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.model.identifiers import ExecAlgorithmId

from core.execution.algorithms.parent import ParamError, ParentWork, number
from core.execution.algorithms.schedule import slot_count, slot_times
from core.execution.algorithms.scheduled import ScheduledExecAlgorithm, ScheduledExecAlgorithmConfig

TWAP_ID = "TWAP"


class TwapExecAlgorithmConfig(ScheduledExecAlgorithmConfig, frozen=True):
    """Defaults of every TWAP parent (``[execution]`` in the desk's config)."""

    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId(TWAP_ID)
    randomise: float = 0.0
    seed: int = 0


class TwapExecAlgorithm(ScheduledExecAlgorithm):
    """Time-weighted: equal slices at (optionally jittered) even intervals."""

    def __init__(self, config: TwapExecAlgorithmConfig | None = None) -> None:
        super().__init__(config or TwapExecAlgorithmConfig())

    def plan(
        self, work: ParentWork, params: dict[str, Any], horizon: float, interval: float
    ) -> tuple[list[int], list[float]]:
        config = self.config
        jitter = number(params, "randomise", config.randomise, 0, 0.99)
        seed = params.get("seed", config.seed)
        if not isinstance(seed, int) and not str(seed).lstrip("-").isdigit():
            raise ParamError(f"exec_algorithm_params.seed: {seed!r} is not an integer")
        count = slot_count(horizon, interval)
        times = slot_times(self.clock.timestamp_ns(), count, interval, jitter, int(seed))
        return times, [1.0] * count
