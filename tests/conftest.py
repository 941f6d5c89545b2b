"""Shared fixtures of the backtest tests: one small demo data set and TOML configs around it.

The demo data set is generated once per session (two days, 50k trades a day) so that every
backtest test replays the same few seconds of work. Nautilus initialises its logging once per
process and ignores later logging configs, so every config written here logs to the same
session folder; no test may assert on the log files of a later run. ``gcs_server`` is one
in-memory GCS emulator for the tests that read or write ``gs://`` roots. ``pg_server`` is one
real PostgreSQL server per test worker, and ``oms_location`` runs a test once per OMS back end:
a SQLite file, then a new PostgreSQL database on that server.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path

import polars as pl
import pytest
import textual._wait
import textual.app
import textual.pilot
from console_seed import desk_records
from gcs_emulator import GcsEmulator
from pg_server import PASSWORD, PgServer
from pg_server import available as postgres_available
from textual._context import active_app
from textual.pilot import Pilot

from core.data.demo_data import generate_demo_data
from core.oms import OmsStore

FIRST_DAY = dt.date(2026, 1, 5)
DAYS = (FIRST_DAY, FIRST_DAY + dt.timedelta(days=1))
TRADES_PER_DAY = {"BTCUSDT.BINANCE": 30_000, "ETHUSDT.BINANCE": 20_000}
INSTRUMENTS = tuple(TRADES_PER_DAY)

TomlValue = str | int | float | bool | Sequence[str]
Section = Mapping[str, TomlValue]
ConfigWriter = Callable[..., Path]


@pytest.fixture(scope="session", autouse=True)
def away_from_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test runs in a scratch working directory: a default relative path (the OMS at
    ``artifacts/oms.sqlite``, results under ``artifacts/``) must never reach the checkout's
    own ``artifacts``, which is the demo's and the operator's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture(autouse=True)
def console_state_of_its_own(tmp_path: Path) -> Iterator[None]:
    """Each test has its own console state (the theme kept across restarts), never the
    operator's, and never another test's: a theme chosen in one test must not colour the next.

    A MonkeyPatch of its own, not the test's ``monkeypatch``: an autouse fixture that took the
    shared one would set it up before a module's own environment fixtures, so it would be torn
    down after them and undo what they had put back (the GCS emulator's variable, once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADE_CONSOLE_STATE_DIR", str(tmp_path / "console-state"))
        yield


IDLE_WAIT_CAP_SECS = 0.1
"""The longest a pilot beside a node waits for the process to go idle (Textual's cap: 1 s)."""


async def _settled_then_capped_idle(
    min_sleep: float = textual._wait.SLEEP_GRANULARITY, max_sleep: float = 1
) -> None:
    """Textual's ``wait_for_idle`` for a process that is never idle: the app's and its screen's
    queued messages handled first and after (what a key opened has mounted before the next key
    goes), with the CPU-idle wait between them capped at ``IDLE_WAIT_CAP_SECS``."""
    app = active_app.get(None)
    pilot = None if app is None else Pilot(app)
    if pilot is not None:
        await pilot._wait_for_screen()
    await textual._wait.wait_for_idle(min_sleep, min(max_sleep, IDLE_WAIT_CAP_SECS))
    if pilot is not None:
        await pilot._wait_for_screen()


@pytest.fixture
def pilot_beside_a_node() -> Iterator[None]:
    """For the tests whose console runs a node on its own loop: after each key (and in a
    ``pause()``), Textual's pilot waits until the process's CPU time stops advancing, for at
    most 1 s. A replaying node never lets it stop, so there every key cost 2 s of sleep (the
    rebalance preview's tests, 175 s of the suite's 17 minutes).

    Those tests need what the sleep stood for, not its length: a key handled, and what it
    opened mounted, before the next (the screen's queued messages, waited for here), and what
    happens later (a fill, a state from the OMS) is awaited with ``wait_for`` up to a deadline.
    A process that can go idle keeps Textual's wait: its end tells that layout work is done."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(textual.app, "wait_for_idle", _settled_then_capped_idle)
        patch.setattr(textual.pilot, "wait_for_idle", _settled_then_capped_idle)
        yield


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def log_dir(session_dir: Path) -> Path:
    """The one logging folder of the session (the backtest's scratch folder sits beside it)."""
    path = session_dir / "logs"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two days of demo data (BTC 30k, ETH 20k trades a day); read-only for the tests."""
    root = tmp_path_factory.mktemp("demo-data")
    generate_demo_data(
        str(root), days=len(DAYS), first_day=FIRST_DAY, trades_per_day=TRADES_PER_DAY
    )
    return str(root)


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsEmulator]:
    """One in-memory GCS API server for the session, reached through ``STORAGE_EMULATOR_HOST``.

    The variable stays set until the session ends (then it is restored), so backtests that
    spawn workers reach the same server: they inherit the environment and nothing else.
    Tests keep to their own bucket names, since every test of the session shares the server.
    """
    emulator = GcsEmulator()
    emulator.start()
    try:
        with emulator.environment():
            yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server on 127.0.0.1 (one per test worker), in a temporary folder.

    The desk's code reaches it as it would a real one: a URL without the password, the
    password in ``PGPASSWORD`` (set for the session, so that spawned nodes inherit it).
    """
    if not postgres_available():
        pytest.fail(
            "PostgreSQL's server is not installed (initdb, pg_ctl): `.ci/run` installs "
            "Debian's postgresql-15, or run `apt-get install postgresql-15`"
        )
    server = PgServer()
    server.start()
    previous = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = PASSWORD
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = previous
        server.remove()


_DATABASES = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def oms_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's OMS lives, once per back end: a SQLite file under the test's folder, and
    a new, empty database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "oms.sqlite")
    server: PgServer = request.getfixturevalue("pg_server")
    return server.new_database(f"oms_{os.getpid()}_{next(_DATABASES)}")


@pytest.fixture
def demo_copy(demo_root: str, tmp_path: Path) -> Path:
    """A private copy of the demo data that a test may damage."""
    copy = tmp_path / "data"
    shutil.copytree(demo_root, copy)
    return copy


def _toml_value(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return "[" + ", ".join(_toml_value(item) for item in value) + "]"


def _toml_section(header: str, values: Section) -> list[str]:
    return [header, *(f"{key} = {_toml_value(value)}" for key, value in values.items()), ""]


def write_config(
    path: Path,
    *,
    log_dir: Path,
    data_root: str,
    results_root: str,
    backtest: Section | None = None,
    strategy: Section | None = None,
    venues: Sequence[Section] | None = None,
    oms: Section | None = None,
    extra: str = "",
) -> Path:
    """Write a TOML config at ``path`` with data, results and logging pointed where given.

    ``extra`` is appended verbatim, for keys a test wants to get wrong.
    """
    lines = [
        *_toml_section("[data]", {"root": data_root}),
        *_toml_section("[results]", {"root": results_root}),
        *_toml_section("[logging]", {"directory": str(log_dir)}),
        # Each config gets its own OMS beside it: no test writes the checkout's artifacts/.
        *_toml_section("[oms]", {"database": str(path.parent / "oms.sqlite"), **(oms or {})}),
    ]
    if backtest is not None:
        lines += _toml_section("[backtest]", backtest)
    if strategy is not None:
        lines += _toml_section("[strategy]", strategy)
    for venue in venues or ():
        lines += _toml_section("[[venues]]", venue)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + extra)
    return path


@pytest.fixture(scope="session")
def config_writer(log_dir: Path) -> ConfigWriter:
    """``write_config`` with the session's logging folder filled in."""

    def write(path: Path, **options: object) -> Path:
        return write_config(path, log_dir=log_dir, **options)  # type: ignore[arg-type]

    return write


FillRuleCheck = Callable[..., list[str]]


def fill_rule_problems(
    orders: pl.DataFrame,
    fills: pl.DataFrame,
    trades: Mapping[str, pl.DataFrame],
    latency_ns: int,
) -> list[str]:
    """What breaks the honest fill model in a run's orders and fills (empty when nothing does).

    Checked from the result files and the input trades alone, as an auditor would:

    - every fill is at a trade of its instrument printed at the fill's instant, not before the
      order arrived (``created_at + latency_ns``): either a trade on the order's side at the
      fill's price (it took liquidity: a BUY at a trade a buyer made), or, for a limit order
      filled at its limit, a trade of the other side at or through the limit (its resting
      order was hit);
    - no printed size is used twice: at each (instrument, instant, aggressor side) our fills add
      up to at most what traded there;
    - an order's fills add up to at most its quantity, and to exactly it when FILLED.

    ``trades`` maps each instrument to its input trades (``ts_event``, ``price``, ``size``,
    ``side`` the aggressor's BUY/SELL).
    """
    problems: list[str] = []
    printed: dict[tuple[str, int, str], pl.DataFrame] = {}
    for key, market in trades.items():
        for (ts, side), group in market.partition_by(["ts_event", "side"], as_dict=True).items():
            printed[(key, ts, side)] = group
    used: dict[tuple[str, int, str], float] = {}
    by_order = fills.partition_by("order_id", as_dict=True)
    for order in orders.iter_rows(named=True):
        name = f"{order['order_id']} ({order['side']} {order['quantity']})"
        own = by_order.get((order["order_id"],))
        filled = 0.0 if own is None else own["quantity"].sum()
        if filled > order["quantity"] + 1e-9:
            problems.append(f"{name}: fills add up to {filled}, over its quantity")
        if order["status"] == "FILLED" and abs(filled - order["quantity"]) > 1e-9:
            problems.append(f"{name}: FILLED but its fills add up to {filled}")
        arrival = order["created_at"] + latency_ns
        buy = order["side"] == "BUY"
        other = "SELL" if buy else "BUY"
        limit = order.get("price") if order["order_type"] == "LIMIT" else None
        for fill in () if own is None else own.iter_rows(named=True):
            key, ts, px = order["instrument_key"], fill["ts_event"], fill["price"]
            if ts < arrival:
                problems.append(f"{name}: filled at {ts}, before arriving {arrival}")
            taken = printed.get((key, ts, order["side"]))
            if taken is not None and (taken["price"] == px).any():
                pool = (key, ts, order["side"])
            else:
                hit = printed.get((key, ts, other))
                through = None
                if hit is not None and limit is not None and px == limit:
                    through = hit.filter(pl.col("price") <= px if buy else pl.col("price") >= px)
                if through is None or through.height == 0:
                    problems.append(
                        f"{name}: fill {fill['quantity']} @ {px} at {ts} meets no trade then"
                    )
                    continue
                pool = (key, ts, other)
            used[pool] = used.get(pool, 0.0) + fill["quantity"]
    for pool, quantity in used.items():
        size = float(printed[pool]["size"].sum())
        if quantity > size + 1e-9:
            problems.append(f"{pool}: our fills took {quantity} of the {size} printed")
    return problems


@pytest.fixture(scope="session")
def fill_rule() -> FillRuleCheck:
    """``fill_rule_problems``, for the tests that check fills against the input trades."""
    return fill_rule_problems


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[OmsStore]:
    """An OMS holding the seeded desk (no node running): the console tests' usual start."""
    store = await OmsStore.open(tmp_path / "oms.sqlite")
    store.submit_many(desk_records())
    await store.flush()
    yield store
    await store.close()
