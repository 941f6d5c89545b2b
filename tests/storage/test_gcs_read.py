"""Reading the desk's data from ``gs://`` against a real GCS API server (the emulator).

The session's demo data is written a second time, by the same generator with the same
arguments, into a bucket of the session's emulator; every read is then compared with the same
read from the local folder: instruments, tick windows (rows, and bytes fetched against the
least any reader could fetch, computed from the parquet footer), and a whole backtest whose
worker process reaches the bucket through the inherited ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import DAYS, FIRST_DAY, TRADES_PER_DAY
from gcs_emulator import GcsEmulator

from console.cli import main
from core.backtest.pipeline import BacktestOutcome, run_backtest
from core.config import load_config
from core.data.demo_data import generate_demo_data
from core.data.instrument_specs import load_instrument_specs
from core.data.layout import instruments_path, trades_path
from core.data.results import EQUITY_FILE, FILLS_FILE, ORDERS_FILE, POSITIONS_FILE, SUMMARY_FILE
from core.data.ticks import TickReader, to_ns
from core.errors import DataError
from core.storage.roots import resolve

ConfigWriter = Callable[..., Path]  # conftest's config_writer

BUCKET = "gcs-read"
GCS_ROOT = f"gs://{BUCKET}/demo"
BTC, ETH = "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"
MISSING_DAY = DAYS[-1] + dt.timedelta(days=2)
# Fetched bytes may exceed the minimum by small gaps pyarrow merges into one request.
BYTES_TARGET = 1.2

# Nautilus's BacktestNode calls a pandas API deprecated in pandas 3 on every run.
pytestmark = pytest.mark.filterwarnings("ignore:Timestamp.utcnow is deprecated")


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


@pytest.fixture(scope="module")
def gcs_root(gcs_server: GcsEmulator, demo_root: str) -> str:
    """The session's demo data set, written by the generator into a fresh bucket."""
    generate_demo_data(GCS_ROOT, days=len(DAYS), first_day=FIRST_DAY, trades_per_day=TRADES_PER_DAY)
    return GCS_ROOT


def minimum_bytes(
    root: str, instrument_id: str, start: dt.datetime, end: dt.datetime, columns: Sequence[str]
) -> int:
    """The least a reader can fetch for a window: per day file touched, its footer (metadata,
    4-byte length, magic) plus the column chunks of ``columns`` in the row groups whose
    ``ts_event`` statistics overlap the window. Computed from each object's own footer.
    """
    fs, base = resolve(root)
    start_ns, end_ns = to_ns(start), to_ns(end)
    total = 0
    day = start.date()
    while day <= (end - dt.timedelta(microseconds=1)).date():
        with fs.open(trades_path(base, day, instrument_id), "rb") as handle:
            metadata = pq.ParquetFile(handle).metadata
        names = metadata.schema.names
        total += metadata.serialized_size + 8
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            span = group.column(names.index("ts_event")).statistics
            if span.min < end_ns and span.max >= start_ns:
                total += sum(
                    group.column(names.index(name)).total_compressed_size for name in columns
                )
        day += dt.timedelta(days=1)
    return total


def test_demo_data_command_creates_the_bucket_and_writes_the_local_bytes(
    gcs_server: GcsEmulator, tmp_path: Path
) -> None:
    fs, _ = resolve("gs://demo-data-command/sample")
    assert not fs.exists("demo-data-command")

    code = main(["demo-data", "--root", "gs://demo-data-command/sample", "--days", "1"])

    assert code == 0
    local = generate_demo_data(str(tmp_path), days=1)
    written = sorted(fs.find("demo-data-command/sample"))
    expected = sorted(
        "demo-data-command/sample/" + Path(url).relative_to(tmp_path).as_posix()
        for url in local.files
    )
    assert written == expected
    for url in local.files:
        remote = "demo-data-command/sample/" + Path(url).relative_to(tmp_path).as_posix()
        assert fs.cat_file(remote) == Path(url).read_bytes(), remote


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_instruments_load_from_a_bucket_as_from_a_folder(
    gcs_root: str, demo_root: str, day: dt.date
) -> None:
    from_bucket = load_instrument_specs(gcs_root, day)

    assert set(from_bucket) == {BTC, ETH}
    assert from_bucket == load_instrument_specs(demo_root, day)


@pytest.mark.parametrize(
    ("instrument_id", "start", "end", "columns"),
    [
        (BTC, at(DAYS[0], 14, 2), at(DAYS[0], 14, 7), ["price", "size"]),
        (ETH, at(DAYS[0], 13, 57), at(DAYS[0], 14, 2), ["price", "size"]),
        (BTC, at(DAYS[1], 9), at(DAYS[1], 10), None),
        (BTC, at(DAYS[0], 23, 57), at(DAYS[1], 0, 3), ["price"]),
    ],
    ids=["5min-one-row-group", "5min-two-row-groups", "1h-every-column", "across-midnight"],
)
def test_tick_window_from_a_bucket_has_the_local_rows_and_fetches_near_the_minimum(
    gcs_root: str,
    demo_root: str,
    instrument_id: str,
    start: dt.datetime,
    end: dt.datetime,
    columns: list[str] | None,
) -> None:
    reader = TickReader(gcs_root)

    table = reader.read_window(instrument_id, start, end, columns)

    local = TickReader(demo_root).read_window(instrument_id, start, end, columns)
    assert table.num_rows > 0
    assert table.equals(local)
    stats = reader.last_window_stats
    assert stats is not None
    least = minimum_bytes(gcs_root, instrument_id, start, end, table.column_names)
    assert least <= stats.bytes_read <= BYTES_TARGET * least, (stats.bytes_read, least)


def backtest(
    config_writer: ConfigWriter, folder: Path, data_root: str, mode: str = "full"
) -> BacktestOutcome:
    config = config_writer(
        folder / "config.toml",
        data_root=data_root,
        results_root=str(folder / "results"),
        backtest={
            "start": at(DAYS[0], 12).isoformat(),
            "end": at(DAYS[1], 12).isoformat(),
            "mode": mode,
        },
    )
    return run_backtest(load_config(config))


@pytest.mark.parametrize("mode", ["full", "signals"])
def test_backtest_on_a_bucket_has_the_orders_and_fills_of_the_backtest_on_a_folder(
    gcs_root: str, demo_root: str, config_writer: ConfigWriter, tmp_path: Path, mode: str
) -> None:
    remote = backtest(config_writer, tmp_path / "gcs", gcs_root, mode)

    local = backtest(config_writer, tmp_path / "local", demo_root, mode)
    assert (remote.status, remote.error) == ("COMPLETED", None)
    assert local.status == "COMPLETED"
    for name in (ORDERS_FILE, FILLS_FILE, POSITIONS_FILE, EQUITY_FILE):
        remote_rows = pl.read_parquet(Path(remote.folder) / name)
        assert remote_rows.height > 0, name
        assert remote_rows.equals(pl.read_parquet(Path(local.folder) / name)), name
    remote_stats = remote.summary["execution_stats"]
    assert remote_stats["ticks_processed"] == local.summary["execution_stats"]["ticks_processed"]
    assert remote_stats["bytes_read"] > 0
    assert remote_stats["mode"] == mode
    if mode == "signals":  # only the windows' row groups left the bucket
        assert remote_stats["bytes_read"] < 0.6 * remote_stats["bytes_in_files"]
    assert remote.summary["pnl"] == local.summary["pnl"]


def one_line_error(call: Callable[[], object]) -> str:
    with pytest.raises(DataError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_trades_object_names_its_url(gcs_root: str) -> None:
    start = at(MISSING_DAY, 0)

    message = one_line_error(
        lambda: TickReader(gcs_root).read_window(BTC, start, start + dt.timedelta(minutes=5))
    )

    url = trades_path(gcs_root, MISSING_DAY, BTC)
    assert message == f"{url}: missing trades file for {BTC} on {MISSING_DAY.isoformat()}"


def test_missing_bucket_names_the_url_and_the_bucket(gcs_server: GcsEmulator) -> None:
    root = "gs://no-such-bucket/demo"
    start = at(DAYS[0], 14)

    message = one_line_error(
        lambda: TickReader(root).read_window(BTC, start, start + dt.timedelta(minutes=5))
    )

    assert message.startswith(f"{trades_path(root, DAYS[0], BTC)}: missing trades file")
    assert message.endswith("(bucket 'no-such-bucket' does not exist)")


@pytest.mark.parametrize(
    ("root", "problem"),
    [
        (GCS_ROOT, f"no instruments file for {MISSING_DAY.isoformat()}"),
        (
            "gs://no-such-bucket/demo",
            f"no instruments file for {MISSING_DAY.isoformat()}"
            " (bucket 'no-such-bucket' does not exist)",
        ),
    ],
    ids=["missing-object", "missing-bucket"],
)
def test_missing_instruments_object_names_its_url(gcs_root: str, root: str, problem: str) -> None:
    message = one_line_error(lambda: load_instrument_specs(root, MISSING_DAY))

    assert message == f"{instruments_path(root, MISSING_DAY)}: {problem}"


def test_backtest_on_a_missing_bucket_fails_in_one_line_naming_the_url(
    gcs_server: GcsEmulator, config_writer: ConfigWriter, tmp_path: Path
) -> None:
    outcome = backtest(config_writer, tmp_path, "gs://no-such-bucket/demo")

    assert outcome.status == "FAILED"
    assert outcome.error is not None and "\n" not in outcome.error
    assert outcome.error.startswith(f"{instruments_path('gs://no-such-bucket/demo', DAYS[0])}:")
    assert "bucket 'no-such-bucket' does not exist" in outcome.error


def test_object_that_is_not_parquet_names_its_url(gcs_server: GcsEmulator) -> None:
    root = "gs://gcs-read-corrupt/demo"
    fs, base = resolve(root)
    fs.mkdir(base, create_parents=True)
    fs.pipe(trades_path(base, DAYS[0], BTC), b"this is not parquet\n" * 64)
    start = at(DAYS[0], 14)

    message = one_line_error(
        lambda: TickReader(root).read_window(BTC, start, start + dt.timedelta(minutes=5))
    )

    assert message.startswith(f"{trades_path(root, DAYS[0], BTC)}: not a readable parquet file")


def test_instruments_in_one_bucket_and_ticks_in_another_backtest_as_one_folder(
    gcs_root: str, demo_root: str, config_writer: ConfigWriter, tmp_path: Path
) -> None:
    # The desk's split: instruments in one bucket, ticks and signals in another.
    fs, base = resolve(gcs_root)
    fs.mkdir("desk-instruments")
    fs.mkdir("desk-ticks")
    fs.copy(f"{base}/instrument_availability", "desk-instruments/ref/", recursive=True)
    for tree in ("raw_tick_data", "signals"):
        fs.copy(f"{base}/{tree}", "desk-ticks/prod/", recursive=True)
    assert not fs.exists("desk-ticks/prod/instrument_availability")
    split = config_writer(
        tmp_path / "split" / "config.toml",
        data_root="gs://desk-ticks/prod",
        results_root=str(tmp_path / "split" / "results"),
        backtest={"start": at(DAYS[0], 12).isoformat(), "end": at(DAYS[1], 12).isoformat()},
    )
    split.write_text(
        split.read_text().replace(
            "[data]\n", '[data]\ninstruments_root = "gs://desk-instruments/ref"\n'
        )
    )
    remote = run_backtest(load_config(split))
    local = backtest(config_writer, tmp_path / "local", demo_root)
    assert (remote.status, remote.error) == ("COMPLETED", None)
    for name in (ORDERS_FILE, FILLS_FILE):
        assert pl.read_parquet(Path(remote.folder) / name).equals(
            pl.read_parquet(Path(local.folder) / name)
        ), name


def test_results_root_in_a_bucket_receives_the_five_files(
    gcs_root: str, demo_root: str, config_writer: ConfigWriter, tmp_path: Path
) -> None:
    fs, _ = resolve("gs://desk-results-direct")
    fs.mkdir("desk-results-direct")
    outcome = run_backtest(
        load_config(
            config_writer(
                tmp_path / "config.toml",
                data_root=demo_root,
                results_root="gs://desk-results-direct/runs",
                backtest={"start": at(DAYS[0], 12).isoformat(), "end": at(DAYS[0], 15).isoformat()},
            )
        )
    )
    assert (outcome.status, outcome.error) == ("COMPLETED", None)
    assert outcome.folder.startswith("gs://desk-results-direct/runs/backtest_results/")
    names = {path.rsplit("/", 1)[1] for path in fs.find(outcome.folder)}
    assert {SUMMARY_FILE, ORDERS_FILE, FILLS_FILE, POSITIONS_FILE, EQUITY_FILE} <= names
