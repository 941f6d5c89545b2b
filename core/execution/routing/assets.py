"""Which instruments are the same asset on different venues.

The desk maps by **symbol**: ``BTCUSDT.BINANCE`` and ``BTCUSDT.BYBIT`` are one asset, BTCUSDT,
traded on two venues; ``BTCUSDT-PERP.BINANCE`` is another asset (a perpetual, not the spot
coin). The symbol is what the exchanges themselves agree on for spot pairs, and it needs no
table to keep in step. External venues name their instruments the same way
(``SYMBOL.VENUE``), so they join the same groups.

A group's **primary** is its first member in the order the strategy lists its instruments:
targets name it (a target on any member counts for the whole asset), and the rebalance plans
one line per asset, on the primary, before the router spreads it over the members.
"""

from __future__ import annotations

from collections.abc import Iterable


def asset_of(instrument_id: str) -> str:
    """The asset an instrument id trades: its symbol (everything before the last dot)."""
    symbol, dot, _ = instrument_id.rpartition(".")
    return symbol if dot else instrument_id


def venue_of(instrument_id: str) -> str:
    """The venue of an instrument id (after the last dot)."""
    return instrument_id.rpartition(".")[2]


def asset_groups(instrument_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each primary instrument id and every member of its asset group (primary first)."""
    members: dict[str, list[str]] = {}
    for instrument_id in instrument_ids:
        members.setdefault(asset_of(instrument_id), []).append(instrument_id)
    return {ids[0]: tuple(ids) for ids in members.values()}
