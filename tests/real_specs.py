"""The real exchange specs of ``../shared/data/real/`` as desk ``InstrumentSpec``s, for tests.

Tests that use them skip (with the path) when the real data is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from core.data.instrument_specs import InstrumentSpec

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def real_file(name: str) -> Path:
    """A file of the real data folder (the test is skipped when it is absent)."""
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real exchange data absent: {path}")
    return path


def bitmex_xbtusd() -> dict[str, Any]:
    """BitMEX's XBTUSD instrument record, as recorded from its API."""
    return json.loads(real_file("bitmex_instrument_xbtusd.json").read_text())


def bitmex_xbtusd_spec() -> InstrumentSpec:
    """BitMEX XBTUSD, the inverse perpetual: tick 0.1, lot 100, minimum one lot.

    BitMEX's multiplier (-1e8) is satoshis per contract and index point; a Nautilus inverse
    contract is worth 1 quote unit (1 USD), so the desk's multiplier is 1.
    """
    bitmex = bitmex_xbtusd()
    return InstrumentSpec(
        instrument_id=f"{bitmex['symbol']}.BITMEX",
        venue="BITMEX",
        symbol=bitmex["symbol"],
        kind="perpetual",
        base=bitmex["rootSymbol"],
        quote=bitmex["quoteCurrency"],
        settlement=bitmex["rootSymbol"],  # settlCurrency "XBt" is satoshis of XBT
        tick_size=bitmex["tickSize"],
        lot_size=float(bitmex["lotSize"]),
        price_precision=1,
        size_precision=0,
        min_quantity=float(bitmex["lotSize"]),
        max_quantity=float(bitmex["maxOrderQty"]),
        min_notional=0.0,
        maker_fee=bitmex["makerFee"],
        taker_fee=bitmex["takerFee"],
        multiplier=1.0,
        is_inverse=bitmex["isInverse"],
    )


def binance_btcusdt_repr() -> dict[str, str]:
    """The fields of the real Binance BTCUSDT CurrencyPair, from its recorded repr."""
    text = real_file("binance_btcusdt_instrument.txt").read_text().strip()
    assert text.startswith("CurrencyPair(")
    return dict(re.findall(r"(\w+)=([^,()]*)", text.removeprefix("CurrencyPair(")))
