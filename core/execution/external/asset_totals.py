"""Positions summed per asset across venues: the desk's one view of what it holds.

The OMS keeps one position per venue and instrument (``BTCUSDT.BINANCE`` from Nautilus,
``BTCGUSDPERP.GEMINI`` from an external venue); the desk's exposure to bitcoin is their sum.
Instruments are matched by their base asset, read from the symbol: the quote currency (the
longest known one that ends it) and a perpetual's suffix are taken off. Quantities add as they
are (one unit of BTC is one unit whatever the venue); PnL adds in each position's currency,
which the desk's venues keep in dollar stablecoins.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from core.oms.events import PositionSnapshot

QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "GUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "BTC", "ETH")
"""Quote currencies recognised at the end of a symbol, longest match first."""
_SUFFIXES = ("-PERP", "PERP", "-SWAP", "_PERP")


class AssetTotal(msgspec.Struct, frozen=True, kw_only=True):
    """One asset's positions on every venue that holds it, summed."""

    asset: str
    signed_qty: float
    venues: tuple[str, ...]
    notional: float
    """Signed value at each position's last price (the weight's numerator)."""
    unrealized_pnl: float
    realized_pnl: float


def base_asset(instrument_id: str) -> str:
    """``BTCUSDT.BINANCE`` -> ``BTC``; ``BTCGUSDPERP.GEMINI`` -> ``BTC``; unknown: the symbol."""
    symbol = instrument_id.rpartition(".")[0] or instrument_id
    symbol = symbol.upper()
    for suffix in _SUFFIXES:
        if symbol.endswith(suffix):
            symbol = symbol.removesuffix(suffix)
            break
    for quote in sorted(QUOTES, key=len, reverse=True):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol.removesuffix(quote).rstrip("-_/")
    return symbol


def asset_totals(positions: Iterable[PositionSnapshot], *, min_venues: int = 2) -> list[AssetTotal]:
    """Open positions summed per base asset, for assets held on at least ``min_venues`` venues
    (with the default, only where a total says more than the one row it would repeat)."""
    grouped: dict[str, list[PositionSnapshot]] = {}
    for position in positions:
        if position.side != "FLAT":
            grouped.setdefault(base_asset(position.instrument_id), []).append(position)
    totals = []
    for asset, held in sorted(grouped.items()):
        venues = tuple(sorted({p.instrument_id.rpartition(".")[2] for p in held}))
        if len(venues) < min_venues:
            continue
        totals.append(
            AssetTotal(
                asset=asset,
                signed_qty=sum(p.signed_qty for p in held),
                venues=venues,
                notional=sum(p.signed_qty * p.last_px for p in held),
                unrealized_pnl=sum(p.unrealized_pnl for p in held),
                realized_pnl=sum(p.realized_pnl for p in held),
            )
        )
    return totals
