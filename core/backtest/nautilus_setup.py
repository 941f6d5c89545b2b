"""The Nautilus side of a backtest run: venue, data, engine and logging configs.

Kept apart from the pipeline so that what we ask of Nautilus (account type, latency, fill model,
where logs go, chunked streaming) reads in one place.
"""

from __future__ import annotations

from pathlib import Path

from nautilus_trader.backtest.config import (
    BacktestDataConfig,
    BacktestEngineConfig,
    BacktestRunConfig,
    BacktestVenueConfig,
    ImportableFillModelConfig,
    ImportableLatencyModelConfig,
)
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.data import TradeTick

from core.config import VenueConfig

_NANOS_PER_MS = 1_000_000


def venue_config(venue: VenueConfig) -> BacktestVenueConfig:
    """A simulated venue as the desk configures it.

    Fill model ``last_trade_then_one_tick``: on trade ticks only, Nautilus's matching engine
    sees one price level, the last trade, with that trade's size. A market order fills that size
    at the last trade price and the rest, at once, one tick worse (Nautilus's behaviour for a GTC
    market order; with IOC the rest would be cancelled and a rebalance left short). The fill model
    itself is deterministic: no random slippage, limit orders fill when the market trades through
    them.
    """
    return BacktestVenueConfig(
        name=venue.name,
        oms_type="NETTING",
        account_type=venue.account_type.upper(),
        starting_balances=list(venue.starting_balances),
        base_currency=None,  # multi-currency: balances in every currency held
        fill_model=ImportableFillModelConfig(
            fill_model_path="nautilus_trader.backtest.models:FillModel",
            config_path="nautilus_trader.backtest.config:FillModelConfig",
            config={"prob_fill_on_limit": 1.0, "prob_slippage": 0.0, "random_seed": 42},
        ),
        latency_model=ImportableLatencyModelConfig(
            latency_model_path="nautilus_trader.backtest.models:LatencyModel",
            config_path="nautilus_trader.backtest.config:LatencyModelConfig",
            config={
                "base_latency_nanos": round(venue.latency_ms * _NANOS_PER_MS),
                "insert_latency_nanos": 0,
                "update_latency_nanos": 0,
                "cancel_latency_nanos": 0,
            },
        ),
        trade_execution=True,
    )


def logging_config(directory: Path, file_name: str, level: str) -> LoggingConfig:
    """Logs to a file only: stdout level OFF (ERROR lines still reach fd 2; see fd_capture)."""
    directory.mkdir(parents=True, exist_ok=True)
    return LoggingConfig(
        log_level="OFF",
        log_level_file=level,
        log_directory=str(directory),
        log_file_name=file_name,
        log_colors=False,
        print_config=False,
    )


def run_config(
    catalog_path: Path,
    instrument_ids: list[str],
    venues: tuple[VenueConfig, ...],
    start_ns: int,
    end_ns: int,
    chunk_size: int,
    logging: LoggingConfig,
    trader_id: str = "BACKTESTER-001",
) -> BacktestRunConfig:
    """One run streaming the catalog's trade ticks in chunks of ``chunk_size``."""
    return BacktestRunConfig(
        engine=BacktestEngineConfig(
            trader_id=trader_id,
            logging=logging,
            run_analysis=False,  # the desk's metrics come from our equity curve and round trips
        ),
        venues=[venue_config(v) for v in venues],
        data=[
            BacktestDataConfig(
                catalog_path=str(catalog_path),
                data_cls=TradeTick,
                instrument_ids=instrument_ids,
                start_time=start_ns,
                end_time=end_ns,
            )
        ],
        chunk_size=chunk_size,
        dispose_on_completion=False,  # keep the cache to read orders and fills
        raise_exception=True,  # BacktestNode swallows exceptions otherwise
        start=start_ns,
        end=end_ns,
    )
