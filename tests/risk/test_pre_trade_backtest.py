"""The pre-trade checks in a backtest: a limit denies the orders that break it, each denial is a
row in orders.parquet with the rule and numbers as its reason and an ERROR alert in the OMS,
near-limit orders pass with a WARNING alert, and the desk's default limits deny nothing.

Real backtests over three hours of the demo data (a handful of rebalance orders of some 10-40k
USDT each on 100,000 USDT).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from core.backtest.pipeline import BacktestOutcome, run_backtest
from core.config import load_config
from core.data.results import FILLS_FILE, ORDERS_FILE
from core.oms import OmsStore

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

SHORT = ("2026-01-05T00:00:00", "2026-01-05T03:00:00")
BTC = "BTCUSDT.BINANCE"


def _toml(risk: dict[str, object]) -> str:
    lines = ["", "[risk]"]
    tables = []
    for key, value in risk.items():
        if isinstance(value, dict):
            tables.append(f"[risk.{key}]")
            tables.extend(f'"{k}" = {v}' for k, v in value.items())
        else:
            lines.append(f"{key} = {value}")
    return "\n".join([*lines, *tables]) + "\n"


@pytest.fixture
def backtest(config_writer, demo_root: str, tmp_path: Path) -> Callable[..., BacktestOutcome]:
    def run(risk: dict[str, object] | None = None) -> BacktestOutcome:
        path = config_writer(
            tmp_path / "config.toml",
            data_root=demo_root,
            results_root=str(tmp_path / "results"),
            backtest={"start": SHORT[0], "end": SHORT[1]},
            oms={"database": str(tmp_path / "oms.sqlite")},
            extra=_toml(risk or {}),
        )
        outcome = run_backtest(load_config(path))
        assert outcome.status == "COMPLETED", outcome.error
        return outcome

    return run


def _results(outcome: BacktestOutcome) -> tuple[pl.DataFrame, pl.DataFrame]:
    folder = Path(outcome.folder)
    return pl.read_parquet(folder / ORDERS_FILE), pl.read_parquet(folder / FILLS_FILE)


def _alerts(database: Path) -> list:
    async def read() -> list:
        async with await OmsStore.open(database, read_only=True) as store:
            return await store.alerts(limit=1_000)

    return asyncio.run(read())


def test_default_limits_deny_no_rebalance_order(backtest, tmp_path: Path) -> None:
    orders, fills = _results(backtest())
    assert orders.height >= 2
    assert orders["status"].to_list() == ["FILLED"] * orders.height
    assert fills.height >= orders.height


@pytest.mark.parametrize(
    ("risk", "rule"),
    [
        ({"max_order_notional": 1_000.0}, "order_max_notional"),
        ({"max_order_quantity": {BTC: 0.001}}, "order_max_quantity"),
        ({"max_position_notional": 2_000.0}, "position_notional"),
        ({"max_strategy_notional": 2_000.0, "max_position_notional": 0}, "strategy_notional"),
        (
            {
                "max_global_notional": 2_000.0,
                "max_strategy_notional": 0,
                "max_position_notional": 0,
            },
            "global_notional",
        ),
        ({"max_gross_exposure": 0, "max_net_exposure": 0.02}, "net_exposure"),
        ({"max_gross_exposure": 0.02, "max_net_exposure": 0}, "gross_exposure"),
        ({"max_orders_per_minute": 1, "max_orders_per_second": 0}, "velocity_strategy_minute"),
        (
            {
                "max_orders_per_minute_total": 1,
                "max_orders_per_second_total": 0,
                "max_orders_per_second": 0,
                "max_orders_per_minute": 0,
            },
            "velocity_total_minute",
        ),
    ],
)
def test_a_limit_denies_the_orders_that_break_it_and_says_so_in_history_and_alerts(
    backtest, tmp_path: Path, risk: dict[str, object], rule: str
) -> None:
    orders, fills = _results(backtest(risk))
    denied = orders.filter(pl.col("status") == "DENIED")
    assert denied.height >= 1, orders
    for reason in denied["rejection_reason"].to_list():
        assert reason.startswith(f"{rule}: "), reason
    # A denied order never reaches the venue: no fill of it.
    assert set(denied["order_id"]).isdisjoint(set(fills["order_id"]))
    alerts = [a for a in _alerts(tmp_path / "oms.sqlite") if a.rule == rule]
    errors = [a for a in alerts if a.severity == "ERROR"]
    assert {a.severity for a in alerts} <= {"ERROR", "WARNING"}
    assert len(errors) == denied.height
    for alert in errors:
        assert any(order_id in alert.message for order_id in denied["order_id"])


def test_a_velocity_limit_passes_an_order_only_after_a_quiet_minute(backtest) -> None:
    orders, _ = _results(backtest({"max_orders_per_minute": 1, "max_orders_per_second": 0}))
    sent: list[int] = []
    for created, status in (
        orders.sort("created_at").select(pl.col("created_at").dt.epoch("ns"), "status").iter_rows()
    ):
        quiet = not sent or created - sent[-1] >= 60 * 1_000_000_000
        assert status == ("FILLED" if quiet else "DENIED"), (created, status)
        if quiet:
            sent.append(created)
    assert len(sent) >= 2


def test_an_order_near_a_limit_passes_with_a_warning(backtest, tmp_path: Path) -> None:
    notional = _largest_notional(backtest())
    # The largest order at 90% of the cap: it passes, and the Risk pane hears of it.
    orders, _ = _results(backtest({"max_order_notional": round(notional / 0.9, 2)}))
    assert "DENIED" not in orders["status"].to_list()
    warnings = [a for a in _alerts(tmp_path / "oms.sqlite") if a.rule == "order_max_notional"]
    assert warnings and {a.severity for a in warnings} == {"WARNING"}
    assert warnings[0].details["limit"] == pytest.approx(notional / 0.9, rel=1e-6)


def _largest_notional(outcome: BacktestOutcome) -> float:
    _, fills = _results(outcome)
    per_order = fills.group_by("order_id").agg((pl.col("quantity") * pl.col("price")).sum())
    return float(per_order["quantity"].max())
