"""``trade-console batch``: a grid of real backtests on a real Dask cluster of spawned workers.

The grids run the session's demo data over windows of a few hours; one point asks for a day
with no data (2026-01-09), so its run fails, is retried once, and must not disturb the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import dask
import pytest
from distributed import LocalCluster

from console.cli import EXIT_BAD_INPUT, main
from core.data.layout import RESULTS_DIR
from core.runs.batch import RunResult, run_batch
from core.runs.batch_grid import load_grid

ConfigWriter = Callable[..., Path]  # conftest's config_writer

BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
GOOD_1 = '{start = "2026-01-05T01:00:00Z", end = "2026-01-05T04:00:00Z"}'
GOOD_2 = "{start = 2026-01-06T10:00:00Z, end = 2026-01-06T13:00:00Z}"  # TOML times, unquoted
NO_DATA = '{start = "2026-01-09T00:00:00Z", end = "2026-01-09T03:00:00Z"}'

pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


@pytest.fixture
def results_root(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def base_config(
    config_writer: ConfigWriter, demo_root: str, results_root: Path, tmp_path: Path
) -> Path:
    return config_writer(
        tmp_path / "base.toml", data_root=demo_root, results_root=str(results_root)
    )


def write_grid(tmp_path: Path, body: str, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text('config = "base.toml"\n' + body)
    return path


def summaries(results_root: Path) -> dict[str, dict]:
    base = results_root / RESULTS_DIR
    return {f.name: json.loads((f / "summary.json").read_text()) for f in base.iterdir()}


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    """A running two-worker cluster the batch reaches by address (``--scheduler``)."""
    with (
        dask.config.set(
            {
                "distributed.worker.multiprocessing-method": "spawn",
                "temporary-directory": str(tmp_path / "dask-scratch"),
            }
        ),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        yield cluster.scheduler_address


def test_failing_point_is_retried_once_while_the_others_complete_in_their_own_folders(
    base_config: Path, results_root: Path, tmp_path: Path, scheduler: str
) -> None:
    grid = write_grid(
        tmp_path,
        f'instruments = [["{BTC}", "{ETH}"], ["{ETH}"]]\n'
        f"periods = [{GOOD_1}, {GOOD_2}, {NO_DATA}]\n",
    )
    points = load_grid(grid)
    assert len(points) == 6
    attempts: list[tuple[int, str, bool]] = []

    def on_result(result: RunResult, again: bool) -> None:
        attempts.append((result.point.index, result.status, again))

    results = run_batch(points, scheduler=scheduler, on_result=on_result)

    failing = {2, 5}  # the NO_DATA period, for each instrument set
    assert [r.point.index for r in results] == list(range(6))
    on_disk = summaries(results_root)
    for result in results:
        if result.point.index in failing:
            assert result.status == "FAILED"
            assert result.attempts == 2
            assert len(result.run_ids) == 2
            assert "2026-01-09" in (result.error or "")
            for run_id in result.run_ids:  # both tries left their FAILED summary
                assert on_disk[run_id]["status"] == "FAILED"
        else:
            assert result.status == "COMPLETED", result.error
            assert result.attempts == 1
            summary = on_disk[result.run_id]
            assert summary["status"] == "COMPLETED"
            assert Path(result.folder, "fills.parquet").exists()
            assert summary["pnl"]["net_pnl"] == pytest.approx(result.net_pnl)
            backtest = summary["config"]["backtest"]
            assert backtest["instruments"] == result.point.values["instruments"]
            assert backtest["start"].startswith(result.point.values["periods"]["start"][:19])
            assert result.wall_seconds > 0
    # One folder per attempt, every id distinct though runs started at once on two workers.
    all_ids = [run_id for r in results for run_id in r.run_ids]
    assert len(set(all_ids)) == len(all_ids) == 8 == len(on_disk)
    assert sorted(i for i, status, again in attempts if again) == sorted(failing)
    assert len(attempts) == 8


def test_cli_prints_a_line_per_run_and_the_summary_table_and_exits_1_on_a_failure(
    capfd: pytest.CaptureFixture[str], base_config: Path, results_root: Path, tmp_path: Path
) -> None:
    grid = write_grid(
        tmp_path,
        f'instruments = [["{BTC}"]]\nperiods = [{GOOD_1}, {NO_DATA}]\nmode = ["full", "signals"]\n'
        "weight_tolerance = [0.001]\n",
    )
    capfd.readouterr()
    code = main(["batch", "--grid", str(grid), "--workers", "2"])
    out, err = capfd.readouterr()

    assert code == 1, out + err
    assert err == ""
    assert "Traceback" not in out and "[INFO]" not in out  # nothing of Nautilus on the terminal
    on_disk = summaries(results_root)
    completed = sorted(r for r, s in on_disk.items() if s["status"] == "COMPLETED")
    failed = sorted(r for r, s in on_disk.items() if s["status"] == "FAILED")
    assert len(completed) == 2 and len(failed) == 4  # two points, each tried twice
    lines = out.splitlines()
    finished = [line for line in lines if line.startswith("[") and "/4] #" in line]
    retrying = [line for line in lines if line.startswith("[retrying]")]
    assert len(finished) == 4 and len(retrying) == 2
    assert "batch: 2/4 completed" in out
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == 4
    for run_id in completed:
        (row,) = [row for row in rows if run_id in row]
        net_pnl = on_disk[run_id]["pnl"]["net_pnl"]
        assert "COMPLETED" in row and f"{net_pnl:,.2f}" in row
    assert sum("FAILED" in row and "│     2 │" in row for row in rows) == 2
    assert [line for line in lines if line.startswith("FAILED #")] == [
        line for line in lines if line.startswith("FAILED #") and "2026-01-09" in line
    ]
    assert sum(line.startswith("FAILED #") for line in lines) == 2
    assert lines[-1].startswith("batch log: ")


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("instrument = [['BTCUSDT.BINANCE']]\n", ["unknown key 'instrument'"]),
        ("periods = []\n", ["periods", "empty list"]),
        ("mode = 'full'\n", ["mode", "must be a list"]),
        (
            'periods = [{start = "2026-01-05T04:00:00Z", end = "2026-01-05T01:00:00Z"}]\n',
            ["periods[0].start", "is not before end"],
        ),
        (f'periods = [{GOOD_1}, {{start = "2026-01-05"}}]\n', ["periods[1].end", "missing"]),
        ('periods = [{start = "yesterday", end = "2026-01-05"}]\n', ["periods[0].start"]),
        ('mode = ["full", "fast"]\n', ["mode[1]", "must be one of full, signals"]),
        ("window_secs = [60, 0]\n", ["point 1", "backtest.window_secs"]),
        (
            'fetch = ["direction-change", "sometimes"]\n',
            ["fetch[1]", "must be one of every-signal, direction-change"],
        ),
        ("weight_tolerance = [-1.0]\n", ["point 0", "strategy.weight_tolerance"]),
        ("periods = [\n", ["not valid TOML"]),
    ],
)
def test_bad_grid_file_is_one_line_naming_the_file_and_key(
    capfd: pytest.CaptureFixture[str],
    base_config: Path,
    results_root: Path,
    tmp_path: Path,
    body: str,
    names: list[str],
) -> None:
    grid = write_grid(tmp_path, body, name="bad-grid.toml")
    capfd.readouterr()
    code = main(["batch", "--grid", str(grid)])
    out, err = capfd.readouterr()
    assert code == EXIT_BAD_INPUT
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"trade-console: {grid}")
    for name in names:
        assert name in line, line
    assert not results_root.exists()  # refused before any run


def test_the_fetch_axis_sets_each_points_backtest_fetch(base_config: Path, tmp_path: Path) -> None:
    grid = write_grid(
        tmp_path, 'mode = ["signals"]\nfetch = ["every-signal", "direction-change"]\n'
    )
    fetches = [p.config.backtest.fetch for p in load_grid(grid)]
    assert fetches == ["every-signal", "direction-change"]


def test_grid_multiplies_every_axis_over_the_base_config(base_config: Path, tmp_path: Path) -> None:
    grid = write_grid(
        tmp_path,
        f'instruments = [["{BTC}"], ["{ETH}"]]\nperiods = [{GOOD_1}, {GOOD_2}]\n'
        'mode = ["full", "signals"]\nweight_tolerance = [0.0005, 0.002, 0.01]\n',
    )
    points = load_grid(grid)
    assert len(points) == 2 * 2 * 2 * 3
    seen = {
        (
            p.config.backtest.instruments,
            p.config.backtest.start,
            p.config.backtest.mode,
            p.config.strategy.weight_tolerance,
        )
        for p in points
    }
    assert len(seen) == 24
    last = points[-1].config
    assert last.backtest.instruments == (ETH,)
    assert last.backtest.end == "2026-01-06T13:00:00+00:00"
    assert last.strategy.weight_tolerance == 0.01
    assert last.oms.record_backtests is False  # concurrent runs: run states only in the OMS
    assert last.data.root == load_grid(grid)[0].config.data.root  # the base config's
