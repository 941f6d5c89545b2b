"""Turn the desk's instrument specs into NautilusTrader instruments.

The desk's instruments file is the authority on tick size, lot size, minimums and fees for a
day; Nautilus's own instrument providers are not consulted, so a backtest trades under the
rules the venue had that day (see ``core.data.instrument_specs``).
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.enums import CurrencyType
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair, Instrument
from nautilus_trader.model.objects import Currency, Money, Price, Quantity

from core.data.instrument_specs import InstrumentSpec
from core.errors import DataError

# Codes Nautilus does not know are created as crypto with 8 decimals: the usual exchange
# precision of a coin, and enough for any balance the desk would hold.
UNKNOWN_CURRENCY_PRECISION = 8

# A perpetual's margin is left to the account's leverage: with Nautilus's default
# LeveragedMarginModel, initial margin = notional / leverage * margin_init, so margin_init = 1
# makes ``BacktestVenueConfig(default_leverage=...)`` the single knob, as on a venue where the
# trader picks the leverage. Maintenance at half the initial margin is the usual venue ratio
# (BitMEX XBTUSD: 1% / 0.5%). Nautilus does not liquidate in backtests, so it is informative.
PERPETUAL_MARGIN_INIT = Decimal(1)
PERPETUAL_MARGIN_MAINT = Decimal("0.5")


def to_nautilus_currency(code: str, source: str | None = None) -> Currency:
    """The Nautilus currency for ``code``: Nautilus's own when it knows it, else a new crypto.

    A new currency is registered in Nautilus's currency map so that Nautilus can later parse
    strings naming it (balances such as ``"1000 ABC"`` in a venue config).

    Raises
    ------
    DataError
        When ``code`` is not alphanumeric ASCII (``source`` names where it came from).
    """
    known = Currency.from_internal_map(code)
    if known is not None:
        return known
    if not (code.isascii() and code.isalnum()):
        raise DataError(f"currency code '{code}' is not alphanumeric ASCII", source)
    currency = Currency(
        code=code,
        precision=UNKNOWN_CURRENCY_PRECISION,
        iso4217=0,
        name=code,
        currency_type=CurrencyType.CRYPTO,
    )
    Currency.register(currency, overwrite=False)
    return currency


def _decimal(value: float) -> Decimal:
    # repr gives the shortest decimal that reads back as the same float: 0.001 -> "0.001",
    # not the binary expansion Decimal(0.001) would carry.
    return Decimal(repr(value))


def _decimals(value: float) -> int:
    exponent = _decimal(value).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _quantity_or_none(value: float | None, precision: int) -> Quantity | None:
    # The desk writes 0 for "no minimum" (the column is not nullable); Nautilus says None.
    if value is None or value == 0:
        return None
    return Quantity(value, precision)


def to_nautilus_instrument(spec: InstrumentSpec, ts_init: int = 0) -> Instrument:
    """Build the Nautilus instrument the desk's ``spec`` describes.

    Spot becomes a ``CurrencyPair`` with no margin; a perpetual becomes a ``CryptoPerpetual``
    whose margin follows the account leverage (``PERPETUAL_MARGIN_INIT``). A minimum quantity
    or notional of 0 means "none" and maps to ``None``; Nautilus's board ``lot_size`` is left
    unset because the desk's ``lot_size`` is the size increment.

    Parameters
    ----------
    spec : InstrumentSpec
        One row of the desk's instruments file.
    ts_init : int, default 0
        Nanoseconds since the epoch when the spec became valid; used as ``ts_event`` too.

    Returns
    -------
    Instrument

    Raises
    ------
    DataError
        When the spec's kind is unknown or Nautilus rejects one of its values.
    """
    if spec.kind not in ("spot", "perpetual"):
        raise DataError(f"kind '{spec.kind}' is neither spot nor perpetual", spec.instrument_id)
    if not spec.instrument_id.isascii():
        # Nautilus aborts the process (a Rust panic) on non-ASCII identifiers.
        raise DataError("instrument_id is not ASCII", spec.instrument_id)
    try:
        quote = to_nautilus_currency(spec.quote, spec.instrument_id)
        common = {
            "instrument_id": InstrumentId.from_str(spec.instrument_id),
            "raw_symbol": Symbol(spec.symbol),
            "base_currency": to_nautilus_currency(spec.base, spec.instrument_id),
            "quote_currency": quote,
            "price_precision": spec.price_precision,
            "size_precision": spec.size_precision,
            "price_increment": Price(spec.tick_size, spec.price_precision),
            "size_increment": Quantity(spec.lot_size, spec.size_precision),
            "multiplier": Quantity(spec.multiplier, _decimals(spec.multiplier)),
            # Nautilus's lot_size is a board lot; the desk's lot_size is the size increment.
            "lot_size": None,
            "min_quantity": _quantity_or_none(spec.min_quantity, spec.size_precision),
            "max_quantity": _quantity_or_none(spec.max_quantity, spec.size_precision),
            "min_notional": None if spec.min_notional == 0 else Money(spec.min_notional, quote),
            "maker_fee": _decimal(spec.maker_fee),
            "taker_fee": _decimal(spec.taker_fee),
            "ts_event": ts_init,
            "ts_init": ts_init,
        }
        if spec.kind == "spot":
            return CurrencyPair(margin_init=Decimal(0), margin_maint=Decimal(0), **common)
        return CryptoPerpetual(
            settlement_currency=to_nautilus_currency(spec.settlement, spec.instrument_id),
            is_inverse=spec.is_inverse,
            margin_init=PERPETUAL_MARGIN_INIT,
            margin_maint=PERPETUAL_MARGIN_MAINT,
            **common,
        )
    except (ValueError, TypeError, OverflowError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"Nautilus rejects the spec: {first_line}", spec.instrument_id) from error
