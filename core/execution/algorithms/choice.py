"""Which algorithm works a rebalance order, and putting the algorithms on an engine or node.

``choose_algorithm`` is what the rebalancer asks per order: None means one plain market order
(``algorithm = "market"``, or an order under ``algorithm_above_notional``); otherwise the
``exec_algorithm_id`` and ``exec_algorithm_params`` to put on the parent order.
``register_exec_algorithms`` adds the three algorithms to a backtest engine's or a node's
trader; they sit idle until a parent names them, so a desk on ``market`` trades as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nautilus_trader.model.identifiers import ExecAlgorithmId, StrategyId
from nautilus_trader.trading.trader import Trader

from core.config import ExecutionConfig
from core.execution.algorithms.base import DeskExecAlgorithm
from core.execution.algorithms.iceberg import (
    ICEBERG_ID,
    IcebergExecAlgorithm,
    IcebergExecAlgorithmConfig,
)
from core.execution.algorithms.twap import TWAP_ID, TwapExecAlgorithm, TwapExecAlgorithmConfig
from core.execution.algorithms.vwap import VWAP_ID, VwapExecAlgorithm, VwapExecAlgorithmConfig
from core.risk.pre_trade import PreTradeGate

ALGORITHM_IDS = {"twap": TWAP_ID, "vwap": VWAP_ID, "iceberg": ICEBERG_ID}


@dataclass(frozen=True)
class AlgorithmChoice:
    """What to put on a parent order so that an algorithm works it."""

    exec_algorithm_id: ExecAlgorithmId
    exec_algorithm_params: dict[str, Any]
    """The chosen algorithm's parameters, written out so the OMS shows how it was worked."""


def choose_algorithm(notional: float, config: ExecutionConfig) -> AlgorithmChoice | None:
    """The algorithm for an order of ``notional`` (valuation currency), or None for a plain
    market order."""
    if config.algorithm == "market" or abs(notional) < config.algorithm_above_notional:
        return None
    params = _SETTINGS[config.algorithm](config)
    return AlgorithmChoice(ExecAlgorithmId(ALGORITHM_IDS[config.algorithm]), params)


def _twap_settings(config: ExecutionConfig) -> dict[str, Any]:
    return {
        **_scheduled(config, config.twap_horizon_secs, config.twap_interval_secs),
        "randomise": config.twap_randomise,
        "seed": config.seed,
    }


def _vwap_settings(config: ExecutionConfig) -> dict[str, Any]:
    return _scheduled(config, config.vwap_horizon_secs, config.vwap_interval_secs)


def _scheduled(config: ExecutionConfig, horizon: float, interval: float) -> dict[str, Any]:
    return {
        "horizon_secs": horizon,
        "interval_secs": interval,
        "child_order_type": config.child_order_type,
        "limit_offset_bps": config.limit_offset_bps,
        "participation_cap": config.participation_cap,
    }


def _iceberg_settings(config: ExecutionConfig) -> dict[str, Any]:
    return {
        "display_qty": config.iceberg_display_qty,
        "display_fraction": config.iceberg_display_fraction,
        "limit_offset_bps": config.iceberg_limit_offset_bps,
    }


_SETTINGS = {"twap": _twap_settings, "vwap": _vwap_settings, "iceberg": _iceberg_settings}
"""Each algorithm's parameters from ``[execution]``: the params a parent carries and its
algorithm's config defaults alike (the keys are the config's field names)."""


def exec_algorithms(
    config: ExecutionConfig,
    data_root: str = "",
    profiles: dict[str, tuple[float, ...]] | None = None,
) -> list[DeskExecAlgorithm]:
    """The TWAP, VWAP and iceberg algorithms with the config's defaults (VWAP profiles from
    ``profiles``, else built from the trades under ``data_root``)."""
    vwap = VwapExecAlgorithmConfig(
        **_vwap_settings(config),
        bucket_secs=config.vwap_bucket_secs,
        lookback_days=config.vwap_lookback_days,
        data_root=data_root,
        profiles=dict(profiles or {}),
    )
    return [
        TwapExecAlgorithm(TwapExecAlgorithmConfig(**_twap_settings(config))),
        VwapExecAlgorithm(vwap),
        IcebergExecAlgorithm(IcebergExecAlgorithmConfig(**_iceberg_settings(config))),
    ]


def register_exec_algorithms(
    trader: Trader,
    config: ExecutionConfig,
    data_root: str = "",
    profiles: dict[str, tuple[float, ...]] | None = None,
) -> list[DeskExecAlgorithm]:
    """Add the three algorithms to ``trader`` (``engine.trader``, ``node.trader``) before it
    starts; their children pass the pre-trade checks of the trader's strategy owning each
    parent (any strategy with the desk's gate: ``NautilusRebalanceStrategy`` and its kin)."""
    algorithms = exec_algorithms(config, data_root, profiles)

    def gate(strategy_id: StrategyId) -> PreTradeGate | None:
        return _find_gate(trader.strategies(), strategy_id)

    for algorithm in algorithms:
        algorithm.gate_lookup = gate
        trader.add_exec_algorithm(algorithm)
    return algorithms


def _find_gate(strategies: Sequence[object], strategy_id: StrategyId) -> PreTradeGate | None:
    for strategy in strategies:
        if getattr(strategy, "id", None) == strategy_id and hasattr(strategy, "risk_view"):
            return strategy  # type: ignore[return-value]
    return None
