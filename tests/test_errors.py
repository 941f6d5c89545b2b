"""Outside text made safe: bounded, escaped, one line."""

from __future__ import annotations

from core.errors import TEXT_LIMIT, ConfigError, DataError, bounded, one_line_text
from core.oms import RiskAlert


def test_terminal_escapes_and_line_breaks_are_shown_escaped() -> None:
    hostile = "X\n\x1b[2J\x1b[31mFAKE: all clear\x1b[0m"
    assert bounded(hostile) == r"X\n\x1b[2J\x1b[31mFAKE: all clear\x1b[0m"
    assert bounded("\x9b31m \u2028 \x00") == r"\x9b31m \u2028 \x00"


def test_long_text_is_cut_saying_how_much_was_left_out() -> None:
    assert bounded("a" * 10_000_000) == "a" * TEXT_LIMIT + "... (9,999,500 more)"
    assert bounded("\x1b" * 1_000, 8) == r"\x1b\x1b... (998 more)"
    assert bounded("plain") == "plain"


def test_an_alert_is_one_line_bounded_and_escaped_whoever_writes_it() -> None:
    alert = RiskAlert(
        alert_id="a",
        ts_event=1,
        severity="WARNING",
        rule="target_file",
        message="weights[X\n\x1b[2J]: " + "K" * 5_000_000,
        instrument_id="Y\r\nZ",
    )
    assert alert.message.startswith(r"weights[X \x1b[2J]: KKK")
    assert alert.message.endswith("... (4,999,520 more)")
    assert len(alert.message) < TEXT_LIMIT + 30
    assert alert.instrument_id == "Y Z"
    assert one_line_text("a\r\n\tb") == "a b"


def test_error_messages_quoting_data_are_bounded() -> None:
    assert len(str(ConfigError("x" * 100_000))) < TEXT_LIMIT + 30
    error = DataError("K\x1b" * 100_000, "file.json")
    assert str(error).startswith(r"file.json: K\x1bK")
    assert len(str(error)) < TEXT_LIMIT + 50
