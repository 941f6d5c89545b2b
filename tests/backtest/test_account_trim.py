"""A long backtest's account history is trimmed once a simulated day, and no result changes.

Nautilus keeps every account state an account emitted; ``AccountEventTrim`` purges those older
than ``KEEP_SECS`` once a day, so a 5-year run's memory does not grow with them. The tests trim
to an hour (the demo fixture has two days, a day's trim would find little to drop) and compare
the result files with a run whose trim does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

import core.backtest.account_trim as account_trim
import core.backtest.pipeline as pipeline
from core.backtest.account_trim import AccountEventTrim
from core.backtest.pipeline import run_backtest
from core.config import load_config

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")

NS = 1_000_000_000
RESULT_FILES = ("orders", "fills", "positions", "equity_curve")


def _run(config_writer: Callable[..., Path], demo_root: str, folder: Path) -> Path:
    config = config_writer(
        folder / "config.toml",
        data_root=demo_root,
        results_root=str(folder / "results"),
        backtest={"mode": "signals", "window_secs": 900},
    )
    outcome = run_backtest(load_config(config))
    assert outcome.status == "COMPLETED", outcome.error
    return Path(outcome.folder)


def test_trim_keeps_only_the_last_hour_of_account_states_and_changes_no_result(
    config_writer: Callable[..., Path],
    demo_root: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims: list[tuple[int, int, int, int]] = []  # (time, states before, after, oldest kept)

    class Spy(AccountEventTrim):
        def _on_timer(self, event) -> None:
            before = sum(a.event_count for a in self.cache.accounts())
            super()._on_timer(event)
            kept = [e.ts_event for a in self.cache.accounts() for e in a.events]
            trims.append((event.ts_event, before, len(kept), min(kept)))

    monkeypatch.setattr(account_trim, "KEEP_SECS", 3600)
    monkeypatch.setattr(pipeline, "AccountEventTrim", Spy)
    trimmed = _run(config_writer, demo_root, tmp_path / "trimmed")

    class Idle(AccountEventTrim):
        def _on_timer(self, event) -> None:
            pass

    monkeypatch.setattr(pipeline, "AccountEventTrim", Idle)
    kept = _run(config_writer, demo_root, tmp_path / "kept")

    assert trims, "the trim never ran: a 2-day run crosses a midnight"
    for when, before, after, oldest in trims:
        assert after < before  # the first day's fills left states older than an hour
        assert oldest > when - 3600 * NS or after == 1  # Nautilus keeps the latest state
    for name in RESULT_FILES:
        assert pl.read_parquet(trimmed / f"{name}.parquet").equals(
            pl.read_parquet(kept / f"{name}.parquet")
        ), name
