"""Desk instrument specs become the Nautilus instruments the venues really list."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from nautilus_trader.model import currencies
from nautilus_trader.model.enums import CurrencyType
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair
from nautilus_trader.model.objects import Currency, Money, Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from real_specs import binance_btcusdt_repr, bitmex_xbtusd, bitmex_xbtusd_spec

from core.data.instrument_specs import InstrumentSpec
from core.data.nautilus_instruments import (
    PERPETUAL_MARGIN_INIT,
    PERPETUAL_MARGIN_MAINT,
    to_nautilus_currency,
    to_nautilus_instrument,
)
from core.errors import DataError


def _spec(**changes: object) -> InstrumentSpec:
    base = InstrumentSpec(
        instrument_id="BTCUSDT.BINANCE",
        venue="BINANCE",
        symbol="BTCUSDT",
        kind="spot",
        base="BTC",
        quote="USDT",
        settlement="USDT",
        tick_size=0.01,
        lot_size=0.00001,
        price_precision=2,
        size_precision=5,
        min_quantity=0.00001,
        max_quantity=9000.0,
        min_notional=5.0,
        maker_fee=0.001,
        taker_fee=0.001,
        multiplier=1.0,
        is_inverse=False,
    )
    return msgspec.structs.replace(base, **changes)


def _none_or(value: str) -> str | None:
    return None if value == "None" else value


def test_real_binance_spot_round_trips_through_a_desk_spec() -> None:
    real = binance_btcusdt_repr()
    venue = real["id"].split(".")[1]
    # Transcribed into the desk's columns: "None" minimums are the desk's 0 ("no minimum").
    spec = InstrumentSpec(
        instrument_id=real["id"],
        venue=venue,
        symbol=real["raw_symbol"],
        kind="spot",
        base=real["base_currency"],
        quote=real["quote_currency"],
        settlement=real["quote_currency"],
        tick_size=float(real["price_increment"]),
        lot_size=float(real["size_increment"]),
        price_precision=int(real["price_precision"]),
        size_precision=int(real["size_precision"]),
        min_quantity=float(_none_or(real["min_quantity"]) or 0),
        max_quantity=None if real["max_quantity"] == "None" else float(real["max_quantity"]),
        min_notional=float(_none_or(real["min_notional"]) or 0),
        maker_fee=float(real["maker_fee"]),
        taker_fee=float(real["taker_fee"]),
        multiplier=1.0,
        is_inverse=False,
    )

    instrument = to_nautilus_instrument(spec)

    assert isinstance(instrument, CurrencyPair)
    assert instrument.id.value == real["id"]
    assert instrument.raw_symbol.value == real["raw_symbol"]
    assert instrument.base_currency == currencies.BTC
    assert instrument.quote_currency == currencies.USDT
    assert instrument.price_precision == int(real["price_precision"])
    assert instrument.size_precision == int(real["size_precision"])
    assert instrument.price_increment == Price.from_str(real["price_increment"])
    assert instrument.size_increment == Quantity.from_str(real["size_increment"])
    assert instrument.maker_fee == Decimal(real["maker_fee"])
    assert instrument.taker_fee == Decimal(real["taker_fee"])
    assert str(instrument.min_notional) == real["min_notional"]
    assert str(instrument.min_quantity) == real["min_quantity"]
    assert str(instrument.max_quantity) == real["max_quantity"]
    assert str(instrument.lot_size) == real["lot_size"]
    assert instrument.margin_init == Decimal(real["margin_init"])
    assert instrument.margin_maint == Decimal(real["margin_maint"])


def test_real_bitmex_xbtusd_becomes_an_inverse_perpetual_settled_in_xbt() -> None:
    assert bitmex_xbtusd()["isInverse"] is True
    spec = bitmex_xbtusd_spec()

    instrument = to_nautilus_instrument(spec, ts_init=1_732_491_199_034_000_000)

    assert isinstance(instrument, CryptoPerpetual)
    assert instrument.is_inverse is True
    assert instrument.id.value == "XBTUSD.BITMEX"
    assert instrument.base_currency == currencies.XBT
    assert instrument.quote_currency == currencies.USD
    assert instrument.settlement_currency == currencies.XBT
    assert instrument.price_increment == Price.from_str("0.1")
    assert instrument.size_increment == Quantity.from_str("100")
    assert instrument.min_quantity == Quantity.from_str("100")
    assert instrument.max_quantity == Quantity.from_str("10000000")
    assert instrument.multiplier == Quantity.from_str("1")
    assert instrument.maker_fee == Decimal("0.0005")
    assert instrument.taker_fee == Decimal("0.0005")
    assert instrument.margin_init == PERPETUAL_MARGIN_INIT
    assert instrument.margin_maint == PERPETUAL_MARGIN_MAINT
    assert instrument.ts_init == instrument.ts_event == 1_732_491_199_034_000_000


def test_linear_perpetual_keeps_its_settlement_currency_and_contract_multiplier() -> None:
    spec = _spec(
        instrument_id="ETHUSDT-PERP.BINANCE",
        symbol="ETHUSDT-PERP",
        kind="perpetual",
        base="ETH",
        multiplier=0.001,
        maker_fee=0.0002,
        taker_fee=0.0005,
    )

    instrument = to_nautilus_instrument(spec)

    assert isinstance(instrument, CryptoPerpetual)
    assert instrument.is_inverse is False
    assert instrument.settlement_currency == currencies.USDT
    assert instrument.multiplier == Quantity.from_str("0.001")
    assert instrument.maker_fee == Decimal("0.0002")
    assert instrument.taker_fee == Decimal("0.0005")


def test_min_notional_is_money_in_the_quote_currency() -> None:
    instrument = to_nautilus_instrument(_spec(min_notional=5.0))

    assert instrument.min_notional == Money(5, currencies.USDT)
    assert instrument.min_quantity == Quantity.from_str("0.00001")
    assert instrument.max_quantity == Quantity.from_str("9000.00000")


def test_spot_carries_no_margin() -> None:
    instrument = to_nautilus_instrument(_spec())

    assert instrument.margin_init == Decimal(0)
    assert instrument.margin_maint == Decimal(0)


def test_known_currency_codes_are_nautilus_own_constants() -> None:
    for code, constant in (("BTC", currencies.BTC), ("USDT", currencies.USDT)):
        currency = to_nautilus_currency(code)
        assert currency == constant
        assert currency.precision == constant.precision
        assert currency.currency_type == constant.currency_type
    assert to_nautilus_currency("USD").currency_type == CurrencyType.FIAT


def test_unknown_currency_is_a_registered_crypto_with_8_decimals() -> None:
    instrument = to_nautilus_instrument(
        _spec(instrument_id="QZXUSDT.BINANCE", symbol="QZXUSDT", base="QZX")
    )

    assert instrument.base_currency.code == "QZX"
    assert instrument.base_currency.precision == 8
    assert instrument.base_currency.currency_type == CurrencyType.CRYPTO
    assert Currency.from_str("QZX") == instrument.base_currency


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"kind": "future"}, "kind 'future'"),
        ({"instrument_id": "BTCUSDT"}, "Nautilus rejects the spec"),
        ({"tick_size": -0.01}, "price_increment"),
        ({"price_precision": 17}, "precision"),
        ({"base": "BT C"}, "currency code 'BT C'"),
    ],
)
def test_invalid_spec_raises_one_line_data_error_naming_the_instrument(
    changes: dict[str, object], problem: str
) -> None:
    spec = _spec(**changes)
    with pytest.raises(DataError) as caught:
        to_nautilus_instrument(spec)
    message = str(caught.value)
    assert problem in message
    assert spec.instrument_id in message
    assert "\n" not in message


def test_built_instruments_survive_the_catalog(tmp_path: Path) -> None:
    catalog = ParquetDataCatalog(str(tmp_path))
    spot = to_nautilus_instrument(_spec())
    perp = to_nautilus_instrument(
        _spec(instrument_id="BTCUSDT-PERP.BINANCE", symbol="BTCUSDT-PERP", kind="perpetual")
    )

    catalog.write_data([spot, perp])

    read = {instrument.id.value: instrument for instrument in catalog.instruments()}
    assert read["BTCUSDT.BINANCE"] == spot
    assert read["BTCUSDT.BINANCE"].min_notional == spot.min_notional
    assert read["BTCUSDT-PERP.BINANCE"].margin_init == PERPETUAL_MARGIN_INIT
    assert read["BTCUSDT-PERP.BINANCE"].size_increment == perp.size_increment
