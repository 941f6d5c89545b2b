"""The feed that converts ticks on a worker while the engine simulates.

What matters to the desk: wherever the backtest runs (a plain process, or a daemonic one such
as a pool or Dask worker, which may not start children), it gives the same result; and a
worker that fails stops the run with the worker's own one-line error.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import msgspec
import pytest

from core.backtest.pipeline import run_backtest
from core.config import (
    AppConfig,
    BacktestConfig,
    DataConfig,
    LoggingConfig,
    OmsConfig,
    ResultsConfig,
)

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

WINDOW = {"start": "2026-01-05T18:00:00Z", "end": "2026-01-06T06:00:00Z"}


def small_config(data_root: str, results_root: Path, log_dir: Path) -> AppConfig:
    # Everything under the test's folder: the default OMS is the checkout's own, the demo's.
    return AppConfig(
        data=DataConfig(root=data_root),
        results=ResultsConfig(root=str(results_root)),
        oms=OmsConfig(database=str(results_root.parent / "oms.sqlite")),
        backtest=BacktestConfig(**WINDOW, chunk_size=5_000),
        logging=LoggingConfig(directory=str(log_dir)),
    )


def backtest_fills(config_json: bytes) -> tuple[str, int, float]:
    """Run a backtest from a config (as JSON, to cross a process boundary)."""
    config = msgspec.json.decode(config_json, type=AppConfig)
    outcome = run_backtest(config)
    return (
        outcome.status,
        outcome.summary["execution_stats"]["fills"],
        outcome.summary["pnl"]["net_pnl"],
    )


def test_daemonic_process_gives_the_same_result_as_a_plain_one(
    demo_root: str, tmp_path: Path, log_dir: Path
) -> None:
    config = small_config(demo_root, tmp_path / "results", log_dir)
    here = backtest_fills(msgspec.json.encode(config))
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:  # pool workers are daemonic: no children of their own
        in_pool = pool.apply(backtest_fills, (msgspec.json.encode(config),))
    assert here[0] == in_pool[0] == "COMPLETED"
    assert here[1] > 0
    assert in_pool == here


def test_backtest_in_a_non_daemonic_child_process_completes(
    demo_root: str, tmp_path: Path, log_dir: Path
) -> None:
    config = small_config(demo_root, tmp_path / "results", log_dir)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        status, fills, _ = pool.submit(backtest_fills, msgspec.json.encode(config)).result()
    assert status == "COMPLETED"
    assert fills > 0


def test_worker_error_ends_the_run_with_its_one_line_message(
    demo_copy: Path, tmp_path: Path, log_dir: Path
) -> None:
    # Corrupt the second day: the worker fails after the engine has started on the first.
    bad = next((demo_copy / "raw_tick_data/by_date/day-2026-01-06").rglob("BTCUSDT*.parquet"))
    bad.write_bytes(b"not parquet at all")
    outcome = run_backtest(small_config(str(demo_copy), tmp_path / "results", log_dir))
    assert outcome.status == "FAILED"
    assert str(bad) in outcome.error
    assert "\n" not in outcome.error
    assert not list(Path(outcome.folder).glob("*.parquet"))


def _modules_after_importing(*modules: str) -> list[str]:
    """``sys.modules`` of a fresh interpreter that imported ``modules``: what they pull in."""
    code = f"import sys, {', '.join(modules)}; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return result.stdout.split()


def test_core_never_imports_the_console_or_textual() -> None:
    loaded = _modules_after_importing(
        "core.backtest.pipeline",
        "core.backtest.catalog_feed",
        "core.data.demo_data",
        "core.backtest.metrics",
    )
    assert "core.backtest.pipeline" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("textual", "console", "themes")] == []


def test_conversion_worker_imports_no_nautilus() -> None:
    # Nautilus would cost the worker process ~250 MB and half a second before its first slice.
    loaded = _modules_after_importing("core.backtest.catalog_worker")
    assert "core.backtest.catalog_worker" in loaded
    assert [m for m in loaded if m.startswith("nautilus_trader")] == []
