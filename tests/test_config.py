"""load_config: defaults, a full file, and one line naming the file and field for every mistake."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.config import AppConfig, ConfigError, VenueConfig, load_config, parse_time

FULL = """
[data]
root = "gs://desk-data/prod"

[results]
root = "/srv/results"

[backtest]
start = "2026-01-05T06:00:00Z"
end = "2026-01-06"
instruments = ["BTCUSDT.BINANCE"]
targets = "artifacts/orders/target_weights.json"
chunk_size = 250000
equity_interval_secs = 30

[strategy]
strategy_id = "REBAL-002"
min_trade_notional = 25.0
weight_tolerance = 0.001
cash_buffer = 0.01

[[venues]]
name = "BINANCE"
starting_balances = ["50000 USDT"]
latency_ms = 35

[[venues]]
name = "BYBIT"
account_type = "margin"
starting_balances = ["25000.5 USDT"]

[logging]
directory = "/var/log/desk"
level = "DEBUG"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "desk.toml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    """The one-line message ``load_config`` refuses ``text`` with."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def test_no_file_gives_the_defaults() -> None:
    config = load_config(None)
    assert config == AppConfig()
    assert config.data.root == "artifacts/demo-data"
    assert config.results.root == "artifacts"
    assert config.backtest.targets == "signals"
    assert (config.backtest.start, config.backtest.end) == (None, None)
    assert config.venues == (VenueConfig(),)
    assert config.venues[0].starting_balances == ("100000 USDT",)
    assert config.venues[0].latency_ms == 20.0
    assert config.logging.directory == "artifacts/logs"


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == AppConfig()


def test_full_file_is_read_into_typed_fields(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.data.root == "gs://desk-data/prod"
    assert config.backtest.instruments == ("BTCUSDT.BINANCE",)
    assert config.backtest.chunk_size == 250_000
    assert config.strategy.min_trade_notional == 25.0
    assert [venue.name for venue in config.venues] == ["BINANCE", "BYBIT"]
    assert config.venues[0].latency_ms == 35.0  # an integer is a fine float
    assert config.venues[0].account_type == "cash"  # defaults fill what a table leaves out
    assert config.venues[1].account_type == "margin"
    assert config.logging.level == "DEBUG"


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    with pytest.raises(AttributeError):
        config.backtest.chunk_size = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('colour = "red"\n', "unknown key 'colour'"),
        ("[backtest]\nchunksize = 1000\n", "unknown key 'backtest.chunksize'"),
        ("[strategy]\nweight_tolerence = 0.001\n", "unknown key 'strategy.weight_tolerence'"),
        (
            '[[venues]]\nname = "A"\n[[venues]]\nname = "B"\nlatency = 5\n',
            "unknown key 'venues.1.latency'",
        ),
        ("[broker]\nname = 'x'\n", "unknown key 'broker'"),
    ],
    ids=["top-level", "backtest", "strategy", "second-venue", "unknown-table"],
)
def test_unknown_key_names_the_dotted_field(tmp_path: Path, text: str, expected: str) -> None:
    assert refusal(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ('[backtest]\nchunk_size = "big"\n', "backtest.chunk_size", "Expected `int`, got `str`"),
        ("[backtest]\nchunk_size = 1.5\n", "backtest.chunk_size", "Expected `int`"),
        ('[strategy]\ncash_buffer = "1%"\n', "strategy.cash_buffer", "Expected `float`"),
        ("[[venues]]\nlatency_ms = true\n", "venues.0.latency_ms", "Expected `float`"),
        (
            '[[venues]]\nstarting_balances = "1000 USDT"\n',
            "venues.0.starting_balances",
            "Expected `array`, got `str`",
        ),
        ('[[venues]]\naccount_type = "spot"\n', "venues.0.account_type", "'spot'"),
        ('[logging]\nlevel = "LOUD"\n', "logging.level", "'LOUD'"),
        ("[backtest]\ninstruments = [1, 2]\n", "backtest.instruments.0", "Expected `str`"),
        ('venues = "BINANCE"\n', "venues", "Expected `array`"),
    ],
)
def test_wrong_type_names_the_field(tmp_path: Path, text: str, field: str, problem: str) -> None:
    message = refusal(tmp_path, text)
    assert message.startswith(f"{field}: ")
    assert problem in message


@pytest.mark.parametrize("balance", ["100000", "USDT 100000", "-5 USDT", "1e5 USDT", "100 usdt"])
def test_bad_balance_is_refused(tmp_path: Path, balance: str) -> None:
    message = refusal(tmp_path, f'[[venues]]\nstarting_balances = ["{balance}"]\n')
    assert message.startswith("venues.0.starting_balances: ")
    assert f"'{balance}' is not 'AMOUNT CURRENCY'" in message


@pytest.mark.parametrize("strategy_id", ["REBAL", "REBAL-", "-001", "REBAL 001", "RE-BAL-001"])
def test_a_strategy_id_that_is_not_name_tag_is_refused(tmp_path: Path, strategy_id: str) -> None:
    message = refusal(tmp_path, f'[strategy]\nstrategy_id = "{strategy_id}"\n')
    assert message.startswith(f"strategy.strategy_id: '{strategy_id}' is not NAME-TAG")


def test_venue_without_balances_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "[[venues]]\nstarting_balances = []\n")
    assert message == "venues.0.starting_balances: at least one balance is required"


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-01-06", "2026-01-05"), ("2026-01-05T12:00:00Z", "2026-01-05T12:00:00+00:00")],
    ids=["after", "equal"],
)
def test_start_not_before_end_is_refused(tmp_path: Path, start: str, end: str) -> None:
    message = refusal(tmp_path, f'[backtest]\nstart = "{start}"\nend = "{end}"\n')
    assert message == f"backtest.start: {start} is not before backtest.end {end}"


def test_unparseable_time_names_the_field(tmp_path: Path) -> None:
    message = refusal(tmp_path, '[backtest]\nend = "next tuesday"\n')
    assert message == "backtest.end: 'next tuesday' is not an ISO 8601 date or time"


def test_duplicate_venues_are_refused(tmp_path: Path) -> None:
    text = '[[venues]]\nname = "BINANCE"\n[[venues]]\nname = "BINANCE"\n'
    assert refusal(tmp_path, text) == "venues: venue names repeat: BINANCE, BINANCE"


def test_empty_venue_list_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, "venues = []\n") == "venues: at least one venue is required"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[backtest]\nchunk_size = 0\n", "backtest.chunk_size: must be positive, got 0"),
        (
            "[backtest]\nequity_interval_secs = -60\n",
            "backtest.equity_interval_secs: must be positive, got -60",
        ),
        ("[strategy]\ncash_buffer = 1.0\n", "strategy.cash_buffer: must be below 1, got 1.0"),
        (
            "[strategy]\nmin_trade_notional = -1.0\n",
            "strategy.min_trade_notional: must be a non-negative number, got -1.0",
        ),
        (
            "[strategy]\nweight_tolerance = nan\n",
            "strategy.weight_tolerance: must be a non-negative number, got nan",
        ),
        ("[[venues]]\nlatency_ms = -1\n", "venues.0.latency_ms: must be >= 0, got -1.0"),
        (
            '[data]\nroot = "foo://bar/x"\n',
            "data.root: unknown protocol 'foo' in 'foo://bar/x' (a local path or gs://)",
        ),
        (
            '[results]\nupload_root = "gs://Bad Bucket!/x"\n',
            "results.upload_root: 'Bad Bucket!' is not a valid bucket name (3-63 lowercase "
            "letters, digits, '-', '_', '.')",
        ),
        ('[results]\nroot = "gs:///x"\n', "results.root: names no bucket"),
        ("[targets]\nmax_bytes = 0\n", "targets.max_bytes: must be positive, got 0"),
        (
            "[targets]\nmax_clock_skew_secs = inf\n",
            "targets.max_clock_skew_secs: must be a positive number of seconds, got inf",
        ),
    ],
)
def test_out_of_range_value_names_the_field(tmp_path: Path, text: str, expected: str) -> None:
    assert refusal(tmp_path, text) == expected


def test_a_config_that_is_not_utf8_is_one_line_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    path.write_bytes(b"\xff\xfe[oms]\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: not UTF-8 text (byte 0xff at offset 0)"


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    message = refusal(tmp_path, "[backtest\nstart = \n")
    assert message.startswith("not valid TOML")


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: config file not found"


def test_unreadable_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)  # a folder, not a file
    assert str(caught.value).startswith(f"{tmp_path}: cannot read config")
    assert "\n" not in str(caught.value)


def test_times_are_read_as_utc() -> None:
    assert parse_time("2026-01-05", "f") == dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    paris = parse_time("2026-01-05T01:00:00+01:00", "f")
    assert paris == dt.datetime(2026, 1, 5, tzinfo=dt.UTC) and paris.tzinfo == dt.UTC
    assert parse_time("2026-01-05T00:00:00Z", "f").tzinfo == dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[risk]\nmax_orders_per_second = 200\n",
            "risk.max_orders_per_second: 200 is above risk.max_orders_per_minute 120",
        ),
        (
            "[risk]\nmax_position_notional = 500000\n",
            "risk.max_position_notional: 500000 is above risk.max_strategy_notional 250000",
        ),
        (
            "[risk]\nmax_net_exposure = 2.0\n",
            "risk.max_net_exposure: 2 is above risk.max_gross_exposure 1.5",
        ),
        (
            "[risk]\nmax_order_notional = -1\n",
            "risk.max_order_notional: must be a number >= 0 (0 = off), got -1.0",
        ),
        ("[risk]\nwarn_at = 1.5\n", "risk.warn_at: must be in (0, 1], got 1.5"),
        (
            "[risk]\ndrawdown_limit = 1.0\n",
            "risk.drawdown_limit: is a fraction of equity below 1, got 1.0",
        ),
        (
            '[risk.max_order_quantity]\n"BTCUSDT.BINANCE" = 0\n',
            "risk.max_order_quantity.BTCUSDT.BINANCE: must be positive, got 0.0",
        ),
        (
            "[risk]\nconfirm_above_pct_equity = -5\n",
            "risk.confirm_above_pct_equity: must be a number >= 0 (0 = off), got -5.0",
        ),
        (
            "[risk]\nconfirm_turnover_pct_equity = nan\n",
            "risk.confirm_turnover_pct_equity: must be a number >= 0 (0 = off), got nan",
        ),
        (
            '[risk]\nconfirm_above_pct_equity = "20%"\n',
            "risk.confirm_above_pct_equity",
        ),
        ('[risk]\nauto_action = "panic"\n', "risk.auto_action"),
        ("[risk]\nmax_leverage = 3\n", "risk.max_leverage"),
    ],
)
def test_risk_limits_that_cannot_hold_together_are_refused_naming_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    message = refusal(tmp_path, text)
    assert expected in message and "\n" not in message


def test_the_fat_finger_guard_is_on_by_default_and_zero_switches_it_off(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    risk = load_config(path).risk
    assert (risk.confirm_above_pct_equity, risk.confirm_turnover_pct_equity) == (20.0, 50.0)
    path.write_text("[risk]\nconfirm_above_pct_equity = 0\nconfirm_turnover_pct_equity = 0\n")
    risk = load_config(path).risk
    assert (risk.confirm_above_pct_equity, risk.confirm_turnover_pct_equity) == (0.0, 0.0)


def test_a_limit_of_zero_switches_its_check_off_and_passes_validation(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[risk]\nmax_orders_per_minute = 0\nmax_strategy_notional = 0\n")
    risk = load_config(path).risk
    assert (risk.max_orders_per_minute, risk.max_strategy_notional) == (0, 0.0)
