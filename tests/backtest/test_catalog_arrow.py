"""The catalog format without Nautilus: the names and constants Nautilus's own code gives.

The conversion worker writes catalog files with ``core.backtest.catalog_arrow`` alone, so that it
never imports Nautilus; these tests check the reimplemented pieces against Nautilus's functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from nautilus_trader.core.datetime import unix_nanos_to_iso8601 as nautilus_iso8601
from nautilus_trader.persistence.catalog.parquet import _timestamps_to_filename
from nautilus_trader.persistence.funcs import urisafe_identifier as nautilus_urisafe

import core.backtest.catalog
from core.backtest import catalog_arrow
from core.backtest.catalog_arrow import (
    trade_tick_directory,
    trade_tick_file_name,
    unix_nanos_to_iso8601,
    urisafe_identifier,
    write_trade_file,
)
from core.data.layout import TRADE_SCHEMA
from core.errors import DataError
from core.storage.roots import resolve

SECOND = 1_000_000_000
DAY = 1_615_766_400 * SECOND  # 2021-03-15T00:00:00Z


def _timestamps() -> list[int]:
    rng = np.random.default_rng(5)
    edges = [
        0,
        1,
        SECOND - 1,
        SECOND,
        SECOND + 1,
        DAY,
        DAY - 1,
        951_782_400 * SECOND,  # 2000-02-29, a leap day
        4_102_444_800 * SECOND - 1,  # the last nanosecond of 2099
        2**63 - 1,  # the last instant Nautilus formats as a date
        2**63,
        2**64 - 1,
    ]
    anywhere = rng.integers(0, 2**63 - 1, 2_000, dtype=np.int64, endpoint=True).tolist()
    whole_seconds = (rng.integers(0, 9_000_000_000, 500) * SECOND).tolist()
    whole_millis = (rng.integers(0, 9_000_000_000_000, 500) * 1_000_000).tolist()
    return [*edges, *anywhere, *whole_seconds, *whole_millis]


def test_timestamps_are_formatted_as_nautilus_formats_them() -> None:
    values = _timestamps()

    assert [unix_nanos_to_iso8601(v) for v in values] == [nautilus_iso8601(v) for v in values]
    assert unix_nanos_to_iso8601(SECOND) == "1970-01-01T00:00:01.000000000Z"


def test_file_names_are_the_ones_the_catalog_gives() -> None:
    values = _timestamps()
    pairs = list(zip(values, values[1:] + values[:1], strict=True))

    assert [trade_tick_file_name(a, b) for a, b in pairs] == [
        _timestamps_to_filename(a, b) for a, b in pairs
    ]


def test_timestamp_outside_unsigned_64_bits_is_refused() -> None:
    for value in (-1, 2**64):
        with pytest.raises(ValueError, match="unsigned 64-bit"):
            unix_nanos_to_iso8601(value)


def test_identifiers_are_made_uri_safe_as_nautilus_makes_them() -> None:
    ids = ["BTCUSDT.BINANCE", "BTC/USDT.BINANCE", "ES.FUT-3.GLBX", "a//b/.X", "/", ""]

    assert [urisafe_identifier(i) for i in ids] == [nautilus_urisafe(i) for i in ids]
    assert trade_tick_directory("/cat/", "BTC/USDT.BINANCE") == (
        "/cat/data/trade_tick/BTCUSDT.BINANCE"
    )


def test_constant_differing_from_nautilus_fails_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    core.backtest.catalog._check_format_constants()  # the copies match the installed Nautilus

    monkeypatch.setattr(catalog_arrow, "QUANTITY_MAX", 18_446_744_073.0)
    with pytest.raises(ImportError, match=r"QUANTITY_MAX is 18446744073\.0 but NautilusTrader"):
        core.backtest.catalog._check_format_constants()


def _trades(ts: list[int]) -> pa.Table:
    n = len(ts)
    return pa.table(
        {
            "ts_event": ts,
            "price": [100.0] * n,
            "size": [1.0] * n,
            "side": ["BUY"] * n,
            "trade_id": [str(i) for i in range(n)],
        },
        schema=TRADE_SCHEMA,
    )


def test_writer_refuses_an_interval_it_was_told_is_taken(tmp_path: Path) -> None:
    fs, root = resolve(str(tmp_path))

    first = write_trade_file(fs, root, "BTCUSDT.BINANCE", 2, 6, _trades([DAY, DAY + 10]), [])
    assert first is not None
    taken = [(first.start, first.end)]
    assert taken == [(DAY, DAY + 10)]
    with pytest.raises(DataError, match=rf"ticks {DAY + 10}\.\.{DAY + 20} overlap"):
        write_trade_file(fs, root, "BTCUSDT.BINANCE", 2, 6, _trades([DAY + 10, DAY + 20]), taken)
    second = write_trade_file(fs, root, "BTCUSDT.BINANCE", 2, 6, _trades([DAY + 11]), taken)

    assert second is not None
    assert second.ticks == 1
    assert sorted(fs.ls(trade_tick_directory(root, "BTCUSDT.BINANCE"), detail=False)) == [
        first.path,
        second.path,
    ]
    assert write_trade_file(fs, root, "BTCUSDT.BINANCE", 2, 6, _trades([]), taken) is None
