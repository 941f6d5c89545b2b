"""A trial of the execution algorithms: parent orders worked in a real backtest of the desk's
data, for the algorithm tests and ``bench/bench_exec_algos.py``.

The rebalancer decides its own orders; a trial needs given ones (this size, at that minute,
through that algorithm), so ``ParentSubmitter`` is the desk's rebalancing strategy (same
pre-trade gate, same limits) that submits the listed parents at their times instead of
following targets. ``run_trial`` builds a ``BacktestEngine`` on a few hours of trades, with
the desk's venue model and the three algorithms registered as the backtest registers them,
runs it, and hands the engine back for its cache to be read.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.node import get_fill_model, get_latency_model
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import ExecAlgorithmId, InstrumentId, Venue
from nautilus_trader.model.objects import Money, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from core.backtest.catalog import write_trade_ticks
from core.backtest.nautilus_setup import venue_config
from core.config import ExecutionConfig, RiskConfig, VenueConfig
from core.data.instrument_specs import load_instrument_specs
from core.data.nautilus_instruments import to_nautilus_instrument
from core.data.ticks import TickReader
from core.execution.algorithms.base import DeskExecAlgorithm
from core.execution.algorithms.choice import register_exec_algorithms
from core.execution.strategy import NautilusRebalanceStrategy, NautilusRebalanceStrategyConfig
from core.fills.exec_client import install_desk_fills
from core.portfolio.marks import last_price


@dataclass(frozen=True)
class ParentSpec:
    """One parent order of a trial."""

    instrument_id: str
    side: str
    """BUY or SELL."""
    quantity: float
    at_ns: int
    """When the strategy submits it."""
    algorithm: str | None
    """``TWAP``, ``VWAP``, ``ICEBERG``, or None for one plain market order."""
    params: dict[str, Any] = field(default_factory=dict)
    limit_price: float | None = None
    """A limit parent's price; None: a market parent."""


class ParentSubmitterConfig(NautilusRebalanceStrategyConfig, frozen=True):
    """The rebalancer's config: the trial's parents are given to the strategy directly."""


class ParentSubmitter(NautilusRebalanceStrategy):
    """The desk's strategy submitting given parents at given times (see the module)."""

    def __init__(self, config: ParentSubmitterConfig) -> None:
        super().__init__(config)
        self.parents: list[ParentSpec] = []
        self.arrivals: dict[str, float | None] = {}
        """Last price at each parent's submission, by parent id (the arrival price)."""
        self.events: list[tuple[int, Callable[[], None]]] = []
        """Extra calls at given times (a kill in the middle of an algorithm)."""

    def on_start(self) -> None:
        super().on_start()
        for i, parent in enumerate(self.parents):
            self.clock.set_time_alert_ns(f"parent-{i}", parent.at_ns, self._submitter(parent))
        for i, (at_ns, call) in enumerate(self.events):
            self.clock.set_time_alert_ns(f"event-{i}", at_ns, lambda _, call=call: call())

    def _submitter(self, parent: ParentSpec) -> Callable[[object], None]:
        def submit(_: object) -> None:
            instrument = self.cache.instrument(InstrumentId.from_str(parent.instrument_id))
            side = OrderSide.BUY if parent.side == "BUY" else OrderSide.SELL
            qty = Quantity(parent.quantity, instrument.size_precision)
            algo = None if parent.algorithm is None else ExecAlgorithmId(parent.algorithm)
            params = None if algo is None else dict(parent.params)
            if parent.limit_price is None:
                order = self.order_factory.market(
                    instrument.id, side, qty, exec_algorithm_id=algo, exec_algorithm_params=params
                )
            else:
                order = self.order_factory.limit(
                    instrument.id,
                    side,
                    qty,
                    instrument.make_price(parent.limit_price),
                    exec_algorithm_id=algo,
                    exec_algorithm_params=params,
                )
            price = last_price(self.cache, instrument.id)
            arrival = None if price is None else price.as_double()
            self.arrivals[order.client_order_id.value] = arrival
            self.submit_order(order)

        return submit


@dataclass
class Trial:
    """A finished trial: the engine (read its cache; ``dispose`` when done) and its parts."""

    engine: BacktestEngine
    strategy: ParentSubmitter
    algorithms: dict[str, DeskExecAlgorithm]

    def dispose(self) -> None:
        """Free the engine."""
        self.engine.dispose()


def run_trial(
    data_root: str,
    instrument_ids: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    parents: Sequence[ParentSpec],
    scratch: Path,
    *,
    execution: ExecutionConfig | None = None,
    risk: RiskConfig | None = None,
    venue: VenueConfig | None = None,
    profiles: dict[str, tuple[float, ...]] | None = None,
    events: Sequence[tuple[int, Callable[[Trial], None]]] = (),
    log_directory: str | None = None,
) -> Trial:
    """Run ``parents`` through a backtest of ``[start, end)`` of the trades under
    ``data_root`` (a few hours: the trades are held in memory) and return the finished trial.

    ``events`` are calls made at given times with the trial (e.g. a kill); ``profiles`` feed
    the VWAP directly, else it builds them from ``data_root``'s days before ``start``.
    """
    specs = load_instrument_specs(data_root, start.date())
    instruments = [to_nautilus_instrument(specs[key]) for key in instrument_ids]
    catalog = ParquetDataCatalog(str(scratch))
    reader = TickReader(data_root)
    for instrument in instruments:
        write_trade_ticks(catalog, instrument, reader.read_window(instrument.id.value, start, end))
    desk_venue = venue or VenueConfig()
    nautilus_venue = venue_config(desk_venue)
    logging = LoggingConfig(log_level="OFF", log_directory=log_directory, bypass_logging=True)
    engine = BacktestEngine(BacktestEngineConfig(logging=logging, run_analysis=False))
    engine.add_venue(
        venue=Venue(desk_venue.name),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH if desk_venue.account_type == "cash" else AccountType.MARGIN,
        base_currency=None,
        starting_balances=[Money.from_str(b) for b in desk_venue.starting_balances],
        fill_model=get_fill_model(nautilus_venue),
        latency_model=get_latency_model(nautilus_venue),
        trade_execution=True,
    )
    install_desk_fills(engine, (desk_venue,))
    for instrument in instruments:
        engine.add_instrument(instrument)
    engine.add_data(catalog.query(TradeTick))
    strategy = ParentSubmitter(
        ParentSubmitterConfig(
            strategy_id="REBAL-001",
            instrument_ids=tuple(instrument_ids),
            risk=risk or RiskConfig(),
        )
    )
    strategy.parents = list(parents)
    engine.add_strategy(strategy)
    algorithms = register_exec_algorithms(
        engine.trader, execution or ExecutionConfig(), data_root, profiles
    )
    trial = Trial(engine, strategy, {a.id.value: a for a in algorithms})
    strategy.events = [(at, lambda call=call: call(trial)) for at, call in events]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' Pandas4Warning on every run
        engine.run(start=start, end=end)
    return trial
