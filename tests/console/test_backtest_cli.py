"""``trade-console backtest`` as the operator meets it: exit codes, one-line errors, folders.

Each bad input is built from a private copy of the session's demo data. What the operator must
see: a non-zero exit, exactly one line naming the problem and the file or field, no traceback,
and no result folder that looks complete (no folder at all, or a FAILED summary.json carrying
the error and no parquet file beside it). Runs are in-process through ``console.cli.main``
(the command points fds 1 and 2 at a log file while it runs, so output is read with capfd
after it returns); the last tests run the installed ``trade-console`` executable.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from console.cli import EXIT_BAD_INPUT, EXIT_FAILED_RUN, main
from core.data.layout import RESULTS_DIR, instruments_path, signals_path, trades_path

ConfigWriter = Callable[..., Path]  # conftest's config_writer

DAY1, DAY2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)  # conftest's demo data
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
EXECUTABLE = Path(sys.executable).with_name("trade-console")

# Nautilus's BacktestNode calls a pandas API deprecated in pandas 3 on every run.
pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


def run_cli(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capfd.readouterr()  # drop whatever came before
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def run_folders(results_root: Path) -> list[Path]:
    base = results_root / RESULTS_DIR
    return sorted(base.iterdir()) if base.exists() else []


def assert_one_line_failure(
    code: int, out: str, err: str, results_root: Path, expected_code: int, *names: str
) -> str:
    """Check what a bad input leaves behind; return the error line.

    ``names`` must all appear in the one line naming the problem (its words, file, field).
    """
    output = out + err
    assert code == expected_code, output
    assert "Traceback" not in output
    error_lines = err.splitlines()
    assert len(error_lines) == 1, err
    naming = [line for line in output.splitlines() if all(name in line for name in names)]
    assert naming == error_lines, output
    folders = run_folders(results_root)
    if expected_code == EXIT_BAD_INPUT:
        # Refused before a run started: nothing to look at.
        assert folders == []
        assert error_lines[0].startswith("trade-console: ")
    else:
        # The run started and failed: its folder says so, and holds no result file.
        assert len(folders) == 1
        folder = folders[0]
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["status"] == "FAILED"
        assert all(name in summary["error"] for name in names)
        assert error_lines[0] == f"FAILED {folder.name}: {summary['error']}"
        assert not list(folder.glob("*.parquet"))
        assert f"result folder: {folder}" in out.splitlines()
    return error_lines[0]


@pytest.fixture
def results_root(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def config(config_writer: ConfigWriter, demo_copy: Path, results_root: Path, tmp_path: Path):
    """A valid config over the test's own copy of the demo data."""
    return config_writer(
        tmp_path / "config.toml", data_root=str(demo_copy), results_root=str(results_root)
    )


def test_successful_run_prints_the_summary_table_and_its_folder(
    capfd: pytest.CaptureFixture[str],
    config_writer: ConfigWriter,
    demo_root: str,
    tmp_path: Path,
    results_root: Path,
) -> None:
    # Data and results roots from the command line, over a config that names neither.
    path = config_writer(tmp_path / "c.toml", data_root="nowhere", results_root="nowhere")
    code, out, err = run_cli(
        capfd,
        "backtest",
        "--config",
        str(path),
        "--data-root",
        demo_root,
        "--results-root",
        str(results_root),
    )
    assert code == 0, out + err
    assert err == ""
    (folder,) = run_folders(results_root)
    assert f"{folder.name}  COMPLETED" in out
    lines = out.splitlines()
    for figure in ("net_pnl", "sharpe_ratio", "ticks_processed", "avg_slippage_bps"):
        assert any(figure in line for line in lines), figure
    assert any("books_balance" in line and "yes" in line for line in lines)
    assert lines[-1] == f"result folder: {folder}"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "COMPLETED"
    # No window given: the run covers every day with trade data.
    assert summary["config"]["backtest"]["start"] == "2026-01-05T00:00:00+00:00"
    assert summary["config"]["backtest"]["end"] == "2026-01-07T00:00:00+00:00"
    assert summary["config"]["data"]["root"] == demo_root
    assert summary["execution_stats"]["ticks_processed"] == 100_000


def test_missing_day_file_fails_the_run_naming_the_file(
    capfd: pytest.CaptureFixture[str], config: Path, demo_copy: Path, results_root: Path
) -> None:
    missing = Path(trades_path(str(demo_copy), DAY2, BTC))
    missing.unlink()
    code, out, err = run_cli(capfd, "backtest", "--config", str(config))
    assert_one_line_failure(
        code,
        out,
        err,
        results_root,
        EXIT_FAILED_RUN,
        str(missing),
        f"missing trades file for {BTC} on 2026-01-06",
    )


def test_corrupt_parquet_fails_the_run_naming_the_file(
    capfd: pytest.CaptureFixture[str], config: Path, demo_copy: Path, results_root: Path
) -> None:
    corrupt = Path(trades_path(str(demo_copy), DAY1, ETH))
    corrupt.write_bytes(b"this is not parquet\n" * 64)
    code, out, err = run_cli(capfd, "backtest", "--config", str(config))
    assert_one_line_failure(
        code, out, err, results_root, EXIT_FAILED_RUN, str(corrupt), "not a readable parquet file"
    )


def test_unsorted_trades_fail_the_run_naming_the_file(
    capfd: pytest.CaptureFixture[str], config: Path, demo_copy: Path, results_root: Path
) -> None:
    path = trades_path(str(demo_copy), DAY1, BTC)
    table = pq.read_table(path)
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    pq.write_table(shuffled, path)
    code, out, err = run_cli(capfd, "backtest", "--config", str(config))
    assert_one_line_failure(
        code, out, err, results_root, EXIT_FAILED_RUN, path, "ts_event not sorted"
    )


def test_duplicated_trades_fail_the_run_naming_the_file_and_trade(
    capfd: pytest.CaptureFixture[str], config: Path, demo_copy: Path, results_root: Path
) -> None:
    path = trades_path(str(demo_copy), DAY2, ETH)
    table = pq.read_table(path)
    copies = table.slice(5_000, 3)
    doubled = pa.concat_tables([table, copies]).sort_by("ts_event")  # still sorted
    pq.write_table(doubled, path)
    repeated = copies["trade_id"][0].as_py()
    code, out, err = run_cli(capfd, "backtest", "--config", str(config))
    assert_one_line_failure(
        code, out, err, results_root, EXIT_FAILED_RUN, path, f"trade_id '{repeated}' appears twice"
    )


def test_trades_repeated_on_the_next_day_fail_the_run(
    capfd: pytest.CaptureFixture[str], config: Path, demo_copy: Path, results_root: Path
) -> None:
    # Day 1's last trades copied to the start of day 2's file: each file alone is sorted and
    # free of repeats; only a reader that carries its checks across days sees the fault.
    day1 = pq.read_table(trades_path(str(demo_copy), DAY1, BTC))
    path = trades_path(str(demo_copy), DAY2, BTC)
    day2 = pq.read_table(path)
    repeated = day1.slice(day1.num_rows - 3, 3)
    pq.write_table(pa.concat_tables([repeated, day2]), path)
    code, out, err = run_cli(capfd, "backtest", "--config", str(config))
    assert_one_line_failure(code, out, err, results_root, EXIT_FAILED_RUN, path)


@pytest.mark.parametrize("mode", ["full", "signals"])
def test_trades_stamped_outside_their_day_file_fail_the_run_with_their_count(
    capfd: pytest.CaptureFixture[str],
    config: Path,
    demo_copy: Path,
    results_root: Path,
    mode: str,
) -> None:
    # The last 1,000 trades of day 1's file stamped three days later: still sorted and unique,
    # but no window of day 1 or day 4 reads them from that file.
    path = trades_path(str(demo_copy), DAY1, BTC)
    table = pq.read_table(path)
    keep = table.num_rows - 1_000
    field = table.schema.get_field_index("ts_event")
    ts = table["ts_event"].to_numpy().copy()
    ts[keep:] += 3 * 86_400 * 10**9
    moved = table.set_column(field, table.schema.field(field), pa.array(ts, table["ts_event"].type))
    pq.write_table(moved, path, row_group_size=10_000)
    code, out, err = run_cli(capfd, "backtest", "--config", str(config), "--mode", mode)
    assert_one_line_failure(
        code,
        out,
        err,
        results_root,
        EXIT_FAILED_RUN,
        path,
        f"1,000 trades stamped outside {DAY1.isoformat()} (UTC)",
    )


def test_signal_for_an_instrument_the_instruments_file_lacks_fails_the_run(
    capfd: pytest.CaptureFixture[str], config: Path, demo_copy: Path, results_root: Path
) -> None:
    path = signals_path(str(demo_copy), DAY1)
    table = pq.read_table(path)
    column = table.schema.get_field_index("instrument_id")
    stranger = table.slice(0, 1).set_column(
        column, table.schema.field(column), pa.array(["SOLUSDT.BINANCE"], pa.string())
    )
    first = table["signal_id"][0].as_py()
    # Inserted beside the signal's own rows: same time, same id, one more instrument.
    pq.write_table(pa.concat_tables([table.slice(0, 2), stranger, table.slice(2)]), path)
    code, out, err = run_cli(capfd, "backtest", "--config", str(config))
    assert_one_line_failure(
        code,
        out,
        err,
        results_root,
        EXIT_FAILED_RUN,
        path,
        f"instrument SOLUSDT.BINANCE of signal '{first}' is not a known instrument",
    )


def test_start_after_end_is_refused_before_the_run(
    capfd: pytest.CaptureFixture[str], config: Path, results_root: Path
) -> None:
    code, out, err = run_cli(
        capfd, "backtest", "--config", str(config), "--start", "2026-01-06", "--end", "2026-01-05"
    )
    line = assert_one_line_failure(
        code, out, err, results_root, EXIT_BAD_INPUT, "backtest.start", "2026-01-06", "2026-01-05"
    )
    assert "command line" in line


def test_window_without_trades_fails_the_run_saying_nothing_to_backtest(
    capfd: pytest.CaptureFixture[str], config: Path, results_root: Path
) -> None:
    # Within a data day, before its first trade (the demo's trades start 1 ms after midnight).
    code, out, err = run_cli(
        capfd,
        "backtest",
        "--config",
        str(config),
        "--start",
        "2026-01-05T00:00:00Z",
        "--end",
        "2026-01-05T00:00:00.000500Z",
    )
    assert_one_line_failure(
        code,
        out,
        err,
        results_root,
        EXIT_FAILED_RUN,
        f"no trades for {BTC}",
        "in [2026-01-05T00:00:00+00:00, 2026-01-05T00:00:00.000500+00:00)",
        "nothing to backtest",
    )


def test_window_on_a_day_without_data_fails_the_run_naming_the_missing_file(
    capfd: pytest.CaptureFixture[str], config: Path, demo_copy: Path, results_root: Path
) -> None:
    # What the operator sees for a day the data root does not hold: the first file missing.
    missing = instruments_path(str(demo_copy), dt.date(2026, 2, 1))
    code, out, err = run_cli(
        capfd, "backtest", "--config", str(config), "--start", "2026-02-01", "--end", "2026-02-02"
    )
    assert_one_line_failure(
        code,
        out,
        err,
        results_root,
        EXIT_FAILED_RUN,
        missing,
        "no instruments file for 2026-02-01",
    )


@pytest.mark.parametrize(
    ("backtest", "names"),
    [
        ({"chunksize": 1000}, ["unknown key 'backtest.chunksize'"]),
        ({"chunk_size": "lots"}, ["backtest.chunk_size", "Expected `int`, got `str`"]),
    ],
    ids=["unknown-key", "mistyped-value"],
)
def test_bad_config_is_refused_naming_the_file_and_field(
    capfd: pytest.CaptureFixture[str],
    config_writer: ConfigWriter,
    demo_root: str,
    tmp_path: Path,
    results_root: Path,
    backtest: dict,
    names: list[str],
) -> None:
    path = config_writer(
        tmp_path / "bad.toml",
        data_root=demo_root,
        results_root=str(results_root),
        backtest=backtest,
    )
    code, out, err = run_cli(capfd, "backtest", "--config", str(path))
    assert_one_line_failure(code, out, err, results_root, EXIT_BAD_INPUT, str(path), *names)


def test_missing_config_file_is_refused_naming_it(
    capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "absent.toml"
    code, out, err = run_cli(capfd, "backtest", "--config", str(path))
    assert_one_line_failure(
        code, out, err, tmp_path / "results", EXIT_BAD_INPUT, str(path), "config file not found"
    )


def test_config_that_is_not_utf8_is_refused_in_one_line(
    capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "desk.toml"
    path.write_bytes(b"\xff\xfe[oms]\n")
    code, out, err = run_cli(capfd, "backtest", "--config", str(path))
    assert_one_line_failure(
        code, out, err, tmp_path / "results", EXIT_BAD_INPUT, str(path), "not UTF-8", "0xff"
    )


@pytest.mark.parametrize(
    ("option", "names"),
    [
        (["--data-root", "foo://x/y"], ["data.root", "unknown protocol 'foo'"]),
        (["--instruments", ","], ["backtest.instruments", "names no instrument"]),
    ],
    ids=["unknown-protocol", "no-instrument"],
)
def test_bad_option_is_refused_in_one_line_before_the_run(
    capfd: pytest.CaptureFixture[str],
    config: Path,
    results_root: Path,
    option: list[str],
    names: list[str],
) -> None:
    code, out, err = run_cli(capfd, "backtest", "--config", str(config), *option)
    assert_one_line_failure(code, out, err, results_root, EXIT_BAD_INPUT, *names)


def test_unwritable_log_folder_is_refused_in_one_line_before_the_run(
    capfd: pytest.CaptureFixture[str], config: Path, results_root: Path
) -> None:
    lines = config.read_text().splitlines()
    config.write_text(
        "\n".join(
            'directory = "/proc/nope/logs"' if line.startswith("directory") else line
            for line in lines
        )
    )
    code, out, err = run_cli(capfd, "backtest", "--config", str(config))
    assert_one_line_failure(
        code, out, err, results_root, EXIT_BAD_INPUT, "logging.directory", "/proc/nope/logs"
    )


def test_targets_file_nested_too_deeply_fails_the_run_in_one_line(
    capfd: pytest.CaptureFixture[str], config: Path, tmp_path: Path, results_root: Path
) -> None:
    targets = tmp_path / "targets.json"
    targets.write_bytes(
        b'{"as_of": "2026-01-05T00:00:00Z", "weights": {"BTCUSDT.BINANCE": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}}"
    )
    code, out, err = run_cli(capfd, "backtest", "--config", str(config), "--targets", str(targets))
    line = assert_one_line_failure(
        code, out, err, results_root, EXIT_FAILED_RUN, str(targets), "nested too deeply"
    )
    assert "RecursionError" not in line


def run_executable(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert EXECUTABLE.exists(), f"{EXECUTABLE} missing: is the project installed in the venv?"
    return subprocess.run(
        [str(EXECUTABLE), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_executable_exits_with_mains_code_and_keeps_its_output(tmp_path: Path) -> None:
    # ``entry`` leaves with os._exit (past Arrow's teardown abort): codes and output must stay.
    helped = run_executable("--help", cwd=tmp_path)
    assert (helped.returncode, helped.stdout.startswith("usage: trade-console")) == (0, True)
    missing = tmp_path / "missing.toml"
    refused = run_executable("status", "--config", str(missing), cwd=tmp_path)
    assert refused.returncode == EXIT_BAD_INPUT
    assert refused.stderr == f"trade-console: {missing}: config file not found\n"


def test_executable_runs_a_backtest_and_exits_0(config: Path, tmp_path: Path) -> None:
    done = run_executable(
        "backtest",
        "--config",
        str(config),
        "--start",
        "2026-01-05T10:00:00Z",
        "--end",
        "2026-01-05T14:00:00Z",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    folder = Path(done.stdout.splitlines()[-1].removeprefix("result folder: "))
    assert json.loads((folder / "summary.json").read_text())["status"] == "COMPLETED"
    assert "COMPLETED" in done.stdout


def test_executable_exits_1_for_a_failed_run_and_2_for_bad_input(
    config: Path, demo_copy: Path, results_root: Path, tmp_path: Path
) -> None:
    Path(trades_path(str(demo_copy), DAY1, BTC)).unlink()
    failed = run_executable("backtest", "--config", str(config), cwd=tmp_path)
    assert_one_line_failure(
        failed.returncode,
        failed.stdout,
        failed.stderr,
        results_root,
        EXIT_FAILED_RUN,
        "missing trades file",
    )
    refused = run_executable("backtest", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert_one_line_failure(
        refused.returncode,
        refused.stdout,
        refused.stderr,
        tmp_path / "elsewhere",
        EXIT_BAD_INPUT,
        "nope.toml",
        "config file not found",
    )
