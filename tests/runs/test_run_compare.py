"""Backtests side by side: three real small backtests of the demo data (two over the same six
hours with another latency and dust threshold, one over the next day from a smaller account),
compared through the core, the command line and the console's screen at 80x24."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import numpy as np
import pytest
from console_seed import table_rows, wait_for
from gcs_emulator import GcsEmulator
from run_helpers import console_80x24
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from console.cli import main
from console.screens.run_compare import RunCompareScreen
from console.widgets.line_plot import LinePlot
from core.backtest.pipeline import run_backtest
from core.config import AppConfig, load_config
from core.data.results import read_summary
from core.errors import DataError
from core.runs.compare import compare_runs, metric_values, table_cells
from core.storage.roots import resolve

DAY_ONE = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-05T06:00:00Z", "targets": "signals"}
DAY_TWO = {"start": "2026-01-06T00:00:00Z", "end": "2026-01-06T06:00:00Z", "targets": "signals"}


@pytest.fixture(scope="module")
def runs(
    config_writer, tmp_path_factory: pytest.TempPathFactory, demo_root: str
) -> tuple[Path, list[str]]:
    """(the config file, folders of: the reference, a slower venue with a dust threshold, the
    next day from a 50,000 USDT account)."""
    tmp = tmp_path_factory.mktemp("compare")
    path = config_writer(
        tmp / "config.toml",
        data_root=demo_root,
        results_root=str(tmp / "results"),
        backtest=DAY_ONE,
        oms={"record_backtests": False},
    )
    config = load_config(path)
    venue = config.venues[0]
    variants: list[AppConfig] = [
        config,
        msgspec.structs.replace(
            config,
            venues=(msgspec.structs.replace(venue, latency_ms=500.0),),
            strategy=msgspec.structs.replace(config.strategy, min_trade_notional=3_000.0),
        ),
        msgspec.structs.replace(
            config,
            backtest=msgspec.structs.replace(
                config.backtest, start=DAY_TWO["start"], end=DAY_TWO["end"]
            ),
            venues=(msgspec.structs.replace(venue, starting_balances=("50000 USDT",)),),
        ),
    ]
    folders = []
    for variant in variants:
        outcome = run_backtest(variant)
        assert outcome.status == "COMPLETED", outcome.error
        folders.append(str(outcome.folder))
    return path, folders


def test_the_table_holds_each_runs_summary_figures_and_the_difference_from_the_first(
    runs: tuple[Path, list[str]],
) -> None:
    _, (first, second, _) = runs
    comparison = compare_runs([first, second])
    summaries = [read_summary(first), read_summary(second)]
    expected = [metric_values(s) for s in summaries]
    rows = {row.name: row for row in comparison.rows}
    assert rows["net PnL"].values == (summaries[0].pnl.net_pnl, summaries[1].pnl.net_pnl)
    assert rows["orders"].values[1] == summaries[1].execution_stats["orders"]
    for name, row in rows.items():
        assert row.values == (expected[0][name], expected[1][name]), name
        if row.kind != "text" and None not in row.values:
            assert row.differences == (pytest.approx(row.values[1] - row.values[0]),), name
    assert rows["net PnL"].differences[0] != 0, "latency and dust change the run"
    assert rows["Sharpe"].values[0] == summaries[0].metrics.sharpe_ratio
    header, cells = table_cells(comparison)
    assert header == [
        "metric",
        summaries[0].run_id,
        summaries[1].run_id,
        f"Δ {summaries[1].run_id}",
    ]
    by_name = {row[0]: row for row in cells}
    assert by_name["period"][3] == "" and by_name["mode"][1] == "full"
    assert by_name["fees"][1] == f"{summaries[0].pnl.total_fees:,.2f}"


def test_runs_over_one_period_share_the_time_axis_in_portfolio_value(
    runs: tuple[Path, list[str]],
) -> None:
    _, (first, second, _) = runs
    curves = compare_runs([first, second]).curves
    assert (curves.axis, curves.unit) == ("time", "value")
    assert curves.title == "Equity: portfolio value"
    start = np.datetime64("2026-01-05T00:00:00", "ns").astype(np.int64)
    assert [c.xs[0] for c in curves.equity] == [start, start]
    assert [c.ys[0] for c in curves.equity] == [100_000.0, 100_000.0]
    assert all((c.ys <= 0).all() for c in curves.drawdown)


def test_runs_over_other_periods_align_by_elapsed_time_and_differing_starts_become_returns(
    runs: tuple[Path, list[str]],
) -> None:
    _, (first, _, other_day) = runs
    curves = compare_runs([first, other_day]).curves
    assert (curves.axis, curves.unit) == ("elapsed", "return_pct")
    assert "return %" in curves.title and "aligned by elapsed time" in curves.title
    for curve in curves.equity:
        assert curve.xs[0] == 0.0 and curve.ys[0] == 0.0
        assert curve.xs[-1] == pytest.approx(6 * 3600e9)
    final = read_summary(other_day)
    assert curves.equity[1].ys[-1] == pytest.approx(
        (final.final_value / final.starting_value - 1) * 100
    )


def test_what_cannot_be_compared_is_one_line_naming_the_file(
    runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    _, (first, _, _) = runs
    with pytest.raises(DataError, match="two or more runs"):
        compare_runs([first])
    broken = tmp_path / "broken"
    shutil.copytree(first, broken)
    (broken / "equity_curve.parquet").unlink()
    with pytest.raises(DataError, match=r"broken/equity_curve.parquet: missing"):
        compare_runs([first, str(broken)])


def test_compare_prints_the_table_resolving_run_ids_under_both_roots(
    runs: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    gcs_server: GcsEmulator,
) -> None:
    config, (first, second, _) = runs
    fs, bucket = resolve("gs://compare-uploads/desk")
    fs.mkdir(bucket, create_parents=True)
    uploaded = f"{bucket}/backtest_results/BT-20990101-001"
    for file in Path(second).iterdir():
        fs.put_file(str(file), f"{uploaded}/{file.name}")
    # The [results] table is already written: add the key to it instead of a second table.
    text = config.read_text().replace(
        "[results]\n", '[results]\nupload_root = "gs://compare-uploads/desk"\n', 1
    )
    config_file = tmp_path / "config.toml"
    config_file.write_text(text)
    first_id = Path(first).name
    assert main(["compare", "--config", str(config_file), first_id, "BT-20990101-001"]) == 0
    out = capsys.readouterr().out
    assert f"Δ {read_summary(second).run_id}" in out.splitlines()[1]
    net = next(line for line in out.splitlines() if line.startswith("net PnL"))
    assert f"{read_summary(first).pnl.net_pnl:,.2f}" in net
    assert main(["compare", "--config", str(config_file), "--json", first, second]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in data["metrics"]][:3] == ["net PnL", "gross PnL", "fees"]
    assert data["curves"]["axis"] == "time"


def test_compare_of_an_unknown_run_or_a_folder_without_results_is_one_line(
    runs: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, (first, _, _) = runs
    assert main(["compare", "--config", str(config), first, "BT-20990101-999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run BT-20990101-999: no summary.json under" in err
    assert main(["compare", "--config", str(config), first, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path}/summary.json: missing" in err


async def test_the_compare_screen_shows_the_table_and_braille_curves_at_80x24(
    runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    _, (first, second, _) = runs
    async with console_80x24(tmp_path / "oms.sqlite") as (app, pilot):
        screen = RunCompareScreen([first, second])
        await app.push_screen(screen)
        await wait_for(pilot, lambda: screen.comparison is not None, timeout=10)
        await pilot.pause()
        table = screen.query_one("#metrics", DataTable)
        _, expected = table_cells(screen.comparison)
        assert table_rows(table) == expected
        plot = screen.query_one("#equity", LinePlot)
        drawn = plot.render().plain
        assert any(0x2801 <= ord(ch) <= 0x28FF for ch in drawn)
        assert "Equity: portfolio value" in drawn
        assert str(screen.query_one("#status", Static).render()) == "Equity: portfolio value"
        # 80x24 holds the table; the plots are below it, reached by scrolling.
        body = screen.query_one(VerticalScroll)
        assert body.max_scroll_y > 0 and plot.region.y >= 24
        body.focus()
        await pilot.press("end")
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y
        assert screen.query_one("#drawdown", LinePlot).region.bottom <= 24
        await pilot.press("escape")
        assert app.screen is not screen


async def test_the_compare_screen_says_what_it_cannot_read(
    runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    _, (first, _, _) = runs
    async with console_80x24(tmp_path / "oms.sqlite") as (app, pilot):
        screen = RunCompareScreen([first, str(tmp_path / "gone")])
        await app.push_screen(screen)
        status = screen.query_one("#status", Static)
        await wait_for(pilot, lambda: status.has_class("failed"), timeout=10)
        assert "gone/summary.json: missing" in str(status.render())
        # Once the folder holds a run, r reads it and the status is no longer an error.
        shutil.copytree(first, tmp_path / "gone")
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.comparison is not None, timeout=10)
        await pilot.pause()
        assert not status.has_class("failed")
        assert str(status.render()) == "Equity: portfolio value"


def test_each_run_after_the_first_gets_its_own_difference_column(
    runs: tuple[Path, list[str]],
) -> None:
    _, folders = runs
    comparison = compare_runs(folders)
    header, cells = table_cells(comparison)
    ids = [read_summary(f).run_id for f in folders]
    assert header == ["metric", *ids, f"Δ {ids[1]}", f"Δ {ids[2]}"]
    net = next(row for row in comparison.rows if row.name == "net PnL")
    first, second, third = net.values
    assert net.differences == (pytest.approx(second - first), pytest.approx(third - first))
    period = next(row for row in cells if row[0] == "period")
    assert period[-2:] == ["", "differs"]
    # Three runs, one not overlapping the others: elapsed time, and returns (50k vs 100k).
    assert (comparison.curves.axis, comparison.curves.unit) == ("elapsed", "return_pct")
