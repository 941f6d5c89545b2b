"""Property-based tests of the backtest's argument checks (the command line and the console's
launch form share them): whatever text an option holds, ``apply_overrides`` gives a valid
config or one bounded line naming the field, never another exception. Derandomized: the same
examples on every run."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from console.cli import build_parser
from console.commands.backtest import apply_overrides
from core.config import AppConfig, validate
from core.errors import ConfigError

TEXT_OPTIONS = (
    "--data-root",
    "--results-root",
    "--start",
    "--end",
    "--instruments",
    "--targets",
    "--min-trade-notional",
    "--weight-tolerance",
    "--cash-buffer",
    "--starting-balances",
    "--account-type",
    "--latency-ms",
    "--algorithm",
)
VALUES = (
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
    | st.sampled_from(
        [
            ",",
            "foo://x/y",
            "gs://Bad Bucket!/x",
            "gs://",
            "nan",
            "inf",
            "-1",
            "1e400",
            "0",
            "2026-01-05",
            "2026-13-45T99:00:00Z",
            "100 USDT",
            "USDT",
            "twap",
            "\x1b[2J",
            "K" * 3000,
        ]
    )
).filter(lambda value: not value.startswith("-"))  # argparse would read it as an option


@settings(derandomize=True, database=None, deadline=None, max_examples=600)
@given(st.dictionaries(st.sampled_from(TEXT_OPTIONS), VALUES, min_size=1, max_size=4))
def test_any_option_text_is_a_config_or_one_bounded_line(options: dict[str, str]) -> None:
    argv = ["backtest"]
    for option, value in options.items():
        argv += [option, value]
    args = build_parser().parse_args(argv)
    base = validate(AppConfig(), "defaults")
    try:
        apply_overrides(base, args)
    except ConfigError as error:
        message = str(error)
        assert message.startswith("command line: "), message
        assert len(message) <= 1_000
        assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in message)
