"""The desk's execution algorithms (Nautilus ExecAlgorithms, the same in backtest and live).

- ``twap``: even slices over a horizon; market or limit children, participation cap, jitter;
- ``vwap``: slices along the instrument's time-of-day volume profile (``profile``);
- ``iceberg``: one display-sized limit child at a time, refilled as it fills;
- ``base`` / ``scheduled``: the parent's bookkeeping, the pre-trade gate, the kill, timers;
- ``choice``: which algorithm an order gets (``choose_algorithm``) and registration.
"""

from core.execution.algorithms.choice import (
    ALGORITHM_IDS,
    AlgorithmChoice,
    choose_algorithm,
    exec_algorithms,
    register_exec_algorithms,
)
from core.execution.algorithms.iceberg import IcebergExecAlgorithm, IcebergExecAlgorithmConfig
from core.execution.algorithms.twap import TwapExecAlgorithm, TwapExecAlgorithmConfig
from core.execution.algorithms.vwap import VwapExecAlgorithm, VwapExecAlgorithmConfig

__all__ = [
    "ALGORITHM_IDS",
    "AlgorithmChoice",
    "IcebergExecAlgorithm",
    "IcebergExecAlgorithmConfig",
    "TwapExecAlgorithm",
    "TwapExecAlgorithmConfig",
    "VwapExecAlgorithm",
    "VwapExecAlgorithmConfig",
    "choose_algorithm",
    "exec_algorithms",
    "register_exec_algorithms",
]
