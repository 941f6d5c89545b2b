"""The initial margin a margin account's open positions hold, at their last prices.

Nautilus's ``MarginAccount.margins_init`` is the margin of working *orders*, and its position
margin is refreshed by quotes: on trade ticks only, and for spot pairs (whose ``margin_init``
is 0), both stay 0 although the account carries positions. The equity curve's ``margin_used``
is computed here instead, per instrument, as the venue would hold it for the position now.
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.accounting.accounts.margin import MarginAccount
from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.identifiers import InstrumentId

from core.portfolio.marks import last_price


def initial_margin(cache: Cache, account: MarginAccount, instrument_id: InstrumentId) -> float:
    """Initial margin of the open positions in ``instrument_id`` at its last price (quote
    currency): ``MarginAccount.calculate_margin_init`` of each position's size, i.e. notional
    / leverage * the instrument's ``margin_init``. An instrument that sets no margin rate (a
    spot pair, ``margin_init`` 0) is carried at its whole notional over the leverage, as a
    venue lending against a spot position holds it; 0 with no position or no price yet.
    """
    instrument = cache.instrument(instrument_id)
    price = last_price(cache, instrument_id)
    if instrument is None or price is None:
        return 0.0
    margin = 0.0
    for position in cache.positions_open(instrument_id=instrument_id):
        quantity = position.quantity
        if instrument.margin_init > 0:
            money = account.calculate_margin_init(instrument, quantity, price)
            margin += money.as_double()
        else:
            leverage = account.leverage(instrument_id) or account.default_leverage
            notional = instrument.notional_value(quantity, price).as_decimal()
            margin += float(notional / Decimal(leverage))
    return margin
