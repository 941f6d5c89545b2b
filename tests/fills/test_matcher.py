"""The honest matcher's rules, on hand-made trades and as properties over random ones."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from core.fills.matcher import BUYER, SELLER, ImpactModel, TradeFlowMatcher, WorkingOrder

TICK = 1  # raw units: prices and sizes are Nautilus's raw integers, here small ones
NONE = 0  # no aggressor recorded


def order(key: str, buy: bool, leaves: int, arrival: int = 0, limit: int | None = None):
    return WorkingOrder(key, "X", buy, leaves, limit, arrival)


def test_an_order_fills_only_from_trades_at_or_after_its_arrival() -> None:
    matcher = TradeFlowMatcher()
    matcher.add(order("a", True, 5, arrival=100))
    assert matcher.on_trade("X", 99, 1000, 10, BUYER, TICK) == []
    [fill] = matcher.on_trade("X", 100, 1001, 10, BUYER, TICK)
    assert (fill.key, fill.quantity, fill.price, fill.ts_ns) == ("a", 5, 1001, 100)


def test_a_trade_fed_before_the_order_was_added_never_fills_it() -> None:
    matcher = TradeFlowMatcher()
    matcher.on_trade("X", 5, 1000, 10, BUYER, TICK)
    matcher.add(order("a", True, 5, arrival=0))
    assert [f.price for f in matcher.on_trade("X", 5, 1002, 10, BUYER, TICK)] == [1002]


def test_a_buy_takes_only_what_buyers_lifted_and_a_sell_what_sellers_hit() -> None:
    matcher = TradeFlowMatcher()
    matcher.add(order("buy", True, 3))
    matcher.add(order("sell", False, 3))
    assert [f.key for f in matcher.on_trade("X", 1, 1000, 10, SELLER, TICK)] == ["sell"]
    assert [f.key for f in matcher.on_trade("X", 2, 1001, 10, BUYER, TICK)] == ["buy"]
    assert matcher.working() == []


def test_a_market_order_larger_than_a_trade_waits_for_the_next_ones() -> None:
    matcher = TradeFlowMatcher()
    matcher.add(order("a", True, 25))
    fills = [f for ts in range(3) for f in matcher.on_trade("X", ts, 1000 + ts, 10, BUYER, TICK)]
    assert [(f.quantity, f.price, f.ts_ns) for f in fills] == [
        (10, 1000, 0),
        (10, 1001, 1),
        (5, 1002, 2),
    ]


def test_each_printed_size_fills_once_oldest_order_first() -> None:
    matcher = TradeFlowMatcher()
    matcher.add(order("old", True, 6))
    matcher.add(order("new", True, 6))
    fills = matcher.on_trade("X", 1, 1000, 10, NONE, TICK)
    assert [(f.key, f.quantity) for f in fills] == [("old", 6), ("new", 4)]
    assert [w.leaves for w in matcher.working()] == [2]


def test_a_resting_limit_is_hit_by_the_other_side_at_its_limit_as_a_maker() -> None:
    matcher = TradeFlowMatcher()
    matcher.add(order("bid", True, 4, limit=1000))
    assert matcher.on_trade("X", 1, 1001, 10, SELLER, TICK) == []  # a seller hit higher bids
    [fill] = matcher.on_trade("X", 2, 999, 10, SELLER, TICK)  # ... then swept through ours
    assert (fill.quantity, fill.price, fill.maker) == (4, 1000, True)


def test_a_limit_takes_offers_at_or_under_its_price_at_the_trade_price() -> None:
    matcher = TradeFlowMatcher()
    matcher.add(order("bid", True, 4, limit=1000))
    assert matcher.on_trade("X", 1, 1001, 10, BUYER, TICK) == []
    [fill] = matcher.on_trade("X", 2, 998, 10, BUYER, TICK)
    assert (fill.price, fill.maker) == (998, False)


def test_a_cancelled_order_fills_no_more() -> None:
    matcher = TradeFlowMatcher()
    matcher.add(order("a", True, 25))
    matcher.on_trade("X", 1, 1000, 10, BUYER, TICK)
    cancelled = matcher.cancel("a", "X")
    assert cancelled is not None and cancelled.leaves == 15
    assert matcher.on_trade("X", 2, 1000, 10, BUYER, TICK) == []
    assert matcher.cancel("a", "X") is None


def test_the_impact_model_fills_the_rest_at_once_moved_by_the_square_root_of_participation():
    matcher = TradeFlowMatcher(ImpactModel(coefficient_bps=10.0, window_ns=100))
    matcher.on_trade("X", 0, 10_000, 390, NONE, TICK)  # volume in the window: 390 + 10
    matcher.add(order("a", True, 110))
    first, rest = matcher.on_trade("X", 50, 10_000, 10, BUYER, TICK)
    assert (first.quantity, first.price, first.impact) == (10, 10_000, False)
    moved = 10_000 * (1 + 10.0 * math.sqrt(100 / 400) / 1e4)  # 5 bps
    assert (rest.quantity, rest.price, rest.impact) == (100, math.ceil(moved), True)
    assert matcher.working() == []


def test_impact_costs_more_the_larger_the_order() -> None:
    prices = []
    for size in (10, 100, 1_000):
        matcher = TradeFlowMatcher(ImpactModel(coefficient_bps=10.0, window_ns=100))
        matcher.on_trade("X", 0, 1_000_000, 1_000, NONE, TICK)
        matcher.add(order("a", False, size + 1))
        *_, rest = matcher.on_trade("X", 1, 1_000_000, 1, SELLER, TICK)
        prices.append(rest.price)
    assert prices[0] > prices[1] > prices[2]  # a sell: lower is worse


trades = st.lists(
    st.tuples(
        st.integers(0, 3),  # time step
        st.integers(990, 1010),  # price
        st.integers(1, 50),  # size
        st.sampled_from((BUYER, SELLER, NONE)),
    ),
    max_size=60,
)
orders = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(1, 200),
        st.integers(0, 40),  # arrival
        st.one_of(st.none(), st.integers(990, 1010)),
        st.integers(0, 60),  # added after this many trades
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(trades=trades, orders=orders)
def test_fills_never_precede_arrival_never_reuse_a_printed_size_and_never_overfill(
    trades, orders
) -> None:
    matcher = TradeFlowMatcher()
    added: dict[str, tuple[int, WorkingOrder]] = {}
    filled: dict[str, int] = {}
    ts = 0
    for index, (step, price, size, aggressor) in enumerate(trades):
        for n, (buy, leaves, arrival, limit, after) in enumerate(orders):
            key = f"o{n}"
            if after == index and key not in added:
                added[key] = (index, order(key, buy, leaves, arrival, limit))
                matcher.add(added[key][1])
        ts += step
        fills = matcher.on_trade("X", ts, price, size, aggressor, TICK)
        assert sum(f.quantity for f in fills) <= size  # the printed size, at most once
        for fill in fills:
            position, working = added[fill.key]
            assert position <= index  # fed after it was added
            assert ts >= working.arrival_ns  # not before it arrived
            if fill.maker:
                assert fill.price == working.limit  # hit at its own limit
                assert aggressor == (SELLER if working.buy else BUYER)
            else:
                assert fill.price == price
                assert aggressor != (SELLER if working.buy else BUYER)
                if working.limit is not None:
                    assert price <= working.limit if working.buy else price >= working.limit
            filled[fill.key] = filled.get(fill.key, 0) + fill.quantity
    for key, (_, working) in added.items():
        assert filled.get(key, 0) + working.leaves == orders[int(key[1:])][1]
