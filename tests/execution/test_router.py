"""The smart order router on its own: plain numbers in, a decision and its explanation out.

Two venues of the same asset differ in fees, latency penalty and recent liquidity; each test
changes one of them and checks where the order goes, how it is split, and what the one-line
explanation says.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nautilus_trader.model.enums import AccountType
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from core.config import RoutingConfig, RoutingVenueConfig, load_config
from core.errors import ConfigError
from core.execution.routing import (
    LiquidityTracker,
    RouteLeg,
    SmartOrderRouter,
    VenueQuote,
    asset_groups,
    asset_of,
)
from core.execution.venue_quotes import Committed, commit, venue_quote

PRICE = 94_000.0


def venue(
    name: str,
    taker_bps: float = 10.0,
    *,
    maker_bps: float = 5.0,
    latency_bps: float = 0.0,
    volume: float = 100.0,
    depth: float | None = None,
    max_quantity: float | None = None,
    price: float | None = PRICE,
) -> VenueQuote:
    return VenueQuote(
        venue=name,
        instrument_id=f"BTCUSDT.{name}",
        maker_fee_bps=maker_bps,
        taker_fee_bps=taker_bps,
        latency_penalty_bps=latency_bps,
        recent_volume=volume,
        depth=depth,
        price=price,
        lot_size=0.00001,
        size_precision=5,
        min_quantity=0.00001,
        min_notional=5.0,
        max_quantity=max_quantity,
    )


def test_router_picks_the_venue_with_the_lower_taker_fee() -> None:
    decision = SmartOrderRouter(0.1).route(
        "BUY", 0.5, [venue("BINANCE", 10.0), venue("BYBIT", 5.5)]
    )
    assert [(leg.venue, leg.quantity) for leg in decision.legs] == [("BYBIT", 0.5)]
    assert decision.venues == ("BYBIT", "BINANCE")
    bybit = decision.cost_of("BYBIT")
    assert bybit is not None and (bybit.fee_bps, bybit.total_bps) == (5.5, 5.5)


def test_a_limit_order_is_priced_at_maker_fees() -> None:
    decision = SmartOrderRouter(0.1).route(
        "SELL",
        0.5,
        [venue("BINANCE", 10.0, maker_bps=1.0), venue("BYBIT", 5.0, maker_bps=4.0)],
        order_type="LIMIT",
    )
    assert [leg.venue for leg in decision.legs] == ["BINANCE"]


def test_a_latency_penalty_can_flip_the_choice_to_the_dearer_fee() -> None:
    router = SmartOrderRouter(0.1)
    quick = router.route("BUY", 0.5, [venue("BINANCE", 10.0), venue("BYBIT", 7.5)])
    slow = router.route("BUY", 0.5, [venue("BINANCE", 10.0), venue("BYBIT", 7.5, latency_bps=4.0)])
    assert quick.legs[0].venue == "BYBIT"
    assert slow.legs[0].venue == "BINANCE"
    bybit = slow.cost_of("BYBIT")
    assert bybit is not None and bybit.total_bps == pytest.approx(11.5)


def test_thin_liquidity_at_the_cheaper_venue_splits_the_order() -> None:
    # BYBIT traded 3 BTC lately: at 10% participation it takes 0.3, BINANCE the other 0.9.
    decision = SmartOrderRouter(0.1).route(
        "BUY", 1.2, [venue("BINANCE", 10.0, volume=50.0), venue("BYBIT", 5.0, volume=3.0)]
    )
    assert [(leg.venue, leg.quantity) for leg in decision.legs] == [
        ("BYBIT", 0.3),
        ("BINANCE", 0.9),
    ]
    assert decision.is_split
    assert sum(leg.quantity for leg in decision.legs) == pytest.approx(1.2)


def test_book_depth_adds_to_what_a_venue_can_absorb() -> None:
    decision = SmartOrderRouter(0.1).route(
        "BUY",
        1.0,
        [venue("BINANCE", 10.0), venue("BYBIT", 5.0, volume=3.0, depth=7.0)],
    )
    assert [(leg.venue, leg.quantity) for leg in decision.legs] == [("BYBIT", 1.0)]


def test_beyond_every_venue_s_limit_the_rest_goes_to_the_cheapest_and_says_so() -> None:
    decision = SmartOrderRouter(0.1).route(
        "BUY", 2.0, [venue("BINANCE", 10.0, volume=5.0), venue("BYBIT", 5.0, volume=5.0)]
    )
    assert [(leg.venue, leg.quantity) for leg in decision.legs] == [
        ("BYBIT", 1.5),
        ("BINANCE", 0.5),
    ]
    assert decision.explanation == (
        "BUY 2 split BYBIT 1.5 @ 5.00 + BINANCE 0.5 @ 10.00 bps "
        "(beyond every venue's participation limit)"
    )


def test_a_cash_venue_sells_no_more_than_it_holds() -> None:
    decision = SmartOrderRouter(0.1).route(
        "SELL",
        0.5,
        [venue("BINANCE", 10.0), venue("BYBIT", 5.0, max_quantity=0.2)],
    )
    assert [(leg.venue, leg.quantity) for leg in decision.legs] == [
        ("BYBIT", 0.2),
        ("BINANCE", 0.3),
    ]


def test_a_venue_without_a_price_gets_nothing_and_the_explanation_says_why() -> None:
    decision = SmartOrderRouter(0.1).route(
        "BUY", 0.5, [venue("BINANCE", 10.0), venue("BYBIT", 5.0, price=None)]
    )
    assert [leg.venue for leg in decision.legs] == ["BINANCE"]
    assert "BYBIT 5.00 (no price)" in decision.explanation


def test_explanation_is_one_line_naming_choice_costs_and_the_alternative() -> None:
    router = SmartOrderRouter(0.1)
    single = router.route(
        "BUY", 0.5, [venue("BINANCE", 10.0), venue("BYBIT", 5.0, latency_bps=1.25)]
    )
    assert single.explanation == (
        "BUY 0.5 -> BYBIT at 6.25 bps (fee 5.00 + latency 1.25); vs BINANCE 10.00"
    )
    split = router.route(
        "SELL", 1.2, [venue("BINANCE", 10.0, volume=50.0), venue("BYBIT", 5.0, volume=3.0)]
    )
    assert split.explanation == (
        "SELL 1.2 split BYBIT 0.3 @ 5.00 + BINANCE 0.9 @ 10.00 bps (participation limit)"
    )
    assert "\n" not in split.explanation


def test_split_legs_stay_on_the_lot_grid_and_add_up() -> None:
    decision = SmartOrderRouter(0.1).route(
        "BUY",
        0.12345,
        [venue("BINANCE", 10.0, volume=50.0), venue("BYBIT", 5.0, volume=0.333333)],
    )
    # BYBIT may take 0.0333333: each leg floors to the lot, and the lot the flooring left
    # over goes to the cheapest leg rather than being dropped.
    quantities = [leg.quantity for leg in decision.legs]
    assert quantities == [0.03334, 0.09011]
    assert sum(quantities) == pytest.approx(0.12345)


def test_liquidity_tracker_counts_only_the_window() -> None:
    tracker = LiquidityTracker(window_ns=10)
    tracker.on_trade("BTCUSDT.BYBIT", 1, 2.0)
    tracker.on_trade("BTCUSDT.BYBIT", 5, 3.0)
    assert tracker.volume("BTCUSDT.BYBIT", 9) == 5.0
    assert tracker.volume("BTCUSDT.BYBIT", 12) == 3.0
    assert tracker.volume("BTCUSDT.BYBIT", 15) == 0.0
    assert tracker.volume("ETHUSDT.BYBIT", 15) == 0.0
    assert tracker.depth("BTCUSDT.BYBIT", "BUY") is None
    tracker.on_quote("BTCUSDT.BYBIT", bid_size=1.5, ask_size=2.5)
    assert (tracker.depth("BTCUSDT.BYBIT", "BUY"), tracker.depth("BTCUSDT.BYBIT", "SELL")) == (
        2.5,
        1.5,
    )


def test_the_same_symbol_on_two_venues_is_one_asset_and_a_perpetual_is_another() -> None:
    ids = ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE", "BTCUSDT.BYBIT", "BTCUSDT-PERP.BINANCE"]
    assert asset_of("BTCUSDT.BYBIT") == "BTCUSDT"
    assert asset_groups(ids) == {
        "BTCUSDT.BINANCE": ("BTCUSDT.BINANCE", "BTCUSDT.BYBIT"),
        "ETHUSDT.BINANCE": ("ETHUSDT.BINANCE",),
        "BTCUSDT-PERP.BINANCE": ("BTCUSDT-PERP.BINANCE",),
    }


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[routing]\nmax_participation = 0\n", "routing.max_participation: must be in (0, 1]"),
        ("[routing]\nliquidity_window_secs = -1\n", "routing.liquidity_window_secs: must be"),
        (
            "[routing.venues.BINANCE]\ntaker_fee_bps = -1\n",
            "routing.venues.BINANCE.taker_fee_bps: must be from 0 to 1000 bps",
        ),
        ("[routing.venues.KRAKEN]\nlatency_penalty_bps = 1\n", "routing.venues.KRAKEN: no such"),
        ("[routing]\nenable = true\n", "unknown key 'routing.enable'"),
    ],
)
def test_bad_routing_config_is_one_line_naming_the_field(tmp_path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_routing_is_off_by_default() -> None:
    config = load_config(None)
    assert config.routing.enabled is False


def test_what_no_venue_has_room_for_is_left_unrouted_and_said() -> None:
    decision = SmartOrderRouter(0.1).route(
        "SELL",
        0.5,
        [venue("BINANCE", 10.0, max_quantity=0.1), venue("BYBIT", 5.0, max_quantity=0.0)],
    )
    assert [(leg.venue, leg.quantity) for leg in decision.legs] == [("BINANCE", 0.1)]
    assert decision.unrouted == pytest.approx(0.4)
    assert decision.explanation == (
        "SELL 0.5 -> BINANCE at 10.00 bps (fee 10.00 + latency 0.00); vs BYBIT 5.00 "
        "(nothing held); beyond the participation limit; 0.4 unrouted (no room)"
    )


def test_a_cash_venue_buys_what_its_cash_pays_at_the_fee_the_venue_charges() -> None:
    # The router prices BINANCE by its [routing.venues] override (0 bps), but the cash a buy
    # takes there pays the instrument's own 10 bps fee: the hard cap and what a leg commits
    # count the same fee, so a second line at the venue finds no room the first one took.
    instrument = TestInstrumentProvider.btcusdt_binance()
    account = SimpleNamespace(type=AccountType.CASH)
    strategy = SimpleNamespace(
        cache=SimpleNamespace(instrument=lambda _: instrument, quote_tick=lambda _: None),
        portfolio=SimpleNamespace(account=lambda _: account),
        last_price=lambda _: 50_000.0,
        holding=lambda _: 0.0,
        free_cash=lambda _: 100_100.0,
    )
    routing = RoutingConfig(enabled=True, venues={"BINANCE": RoutingVenueConfig(taker_fee_bps=0.0)})
    tracker = LiquidityTracker(1)
    committed: Committed = {}
    quote = venue_quote(strategy, routing, tracker, "BTCUSDT.BINANCE", "BUY", 0, committed)
    assert quote is not None and quote.taker_fee_bps == 0.0
    assert quote.max_quantity == pytest.approx(2.0)  # 100,100 / (50,000 * 1.001)
    leg = RouteLeg("BINANCE", "BTCUSDT.BINANCE", 2.0, 50_000.0)
    commit(committed, instrument, "BUY", leg)
    again = venue_quote(strategy, routing, tracker, "BTCUSDT.BINANCE", "BUY", 0, committed)
    assert again is not None and again.max_quantity == pytest.approx(0.0, abs=1e-9)
