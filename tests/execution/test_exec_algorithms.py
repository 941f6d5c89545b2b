"""The execution algorithms (TWAP, VWAP, iceberg) in real backtests of the demo data.

Each trial runs the desk's strategy submitting given parent orders through Nautilus with the
three algorithms registered as the backtest registers them (``core.backtest.algo_trial``), over two
hours of the second demo day (the first day is the VWAP's history). What is checked comes from
the engine's own orders and their events: how many children, when each was submitted, their
sizes and prices, what filled, what the pre-trade checks denied, what a kill left working.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import polars as pl
import pytest
from nautilus_trader.model.enums import OrderStatus, TradingState
from nautilus_trader.model.events import OrderDenied, OrderSubmitted
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.orders import Order
from node_helpers import node_config, until, write_targets

from core.backtest.algo_trial import ParentSpec, Trial, run_trial
from core.config import (
    AppConfig,
    ConfigError,
    ExecutionConfig,
    RiskConfig,
    load_config,
    validate,
)
from core.data.layout import trades_path
from core.execution.algorithms import choose_algorithm
from core.execution.algorithms.profile import load_profile, slot_weights, volume_profile
from core.execution.algorithms.schedule import (
    cumulative_targets,
    merge_small,
    slices,
    slot_count,
    slot_times,
)
from core.live.session import NodeSession
from core.oms import OmsStore

DAY = dt.date(2026, 1, 6)  # conftest's second demo day: the first is the VWAP's history
START = dt.datetime.combine(DAY, dt.time(12), dt.UTC)
END = START + dt.timedelta(hours=2)
BTC = "BTCUSDT.BINANCE"
SECOND = 1_000_000_000
PARENT_AT = int((START + dt.timedelta(minutes=5)).timestamp()) * SECOND
LOT = 0.00001  # BTCUSDT's size increment in the demo specs


@pytest.fixture
def trial(demo_root: str, log_dir: Path, tmp_path: Path):
    """Run parents in a backtest; every trial is disposed after the test."""
    made: list[Trial] = []

    def run(*parents: ParentSpec, **options) -> Trial:
        scratch = tmp_path / f"catalog-{len(made)}"
        done = run_trial(demo_root, [BTC], START, END, parents, scratch, **options)
        made.append(done)
        return done

    yield run
    for done in made:
        done.dispose()


def _parent(algorithm: str | None, quantity: float = 0.2, **params) -> ParentSpec:
    return ParentSpec(BTC, "BUY", quantity, PARENT_AT, algorithm, params)


def _primary(trial: Trial) -> Order:
    (primary,) = [o for o in trial.engine.cache.orders() if o.exec_spawn_id == o.client_order_id]
    return primary


def _sent_ns(order: Order) -> int | None:
    for event in order.events:
        if isinstance(event, OrderSubmitted | OrderDenied):
            return event.ts_event if isinstance(event, OrderSubmitted) else event.ts_init
    return None


def _children(trial: Trial) -> list[Order]:
    """Every order sent for the parent (the primary too when it went as the last child), in
    the order they were sent."""
    orders = [o for o in trial.engine.cache.orders() if _sent_ns(o) is not None]
    return sorted(orders, key=lambda o: (_sent_ns(o), o.client_order_id.value))


def _filled(orders: list[Order]) -> float:
    return sum(o.filled_qty.as_double() for o in orders)


def _trades(demo_root: str, day: dt.date = DAY) -> pl.DataFrame:
    return pl.read_parquet(trades_path(demo_root, day, BTC))


# -- TWAP ---------------------------------------------------------------------------------


def test_twap_sends_one_equal_child_per_interval_and_fills_the_parent(trial) -> None:
    done = trial(_parent("TWAP", 0.2, horizon_secs=600, interval_secs=60))
    children = _children(done)
    assert len(children) == 10
    sent = [_sent_ns(o) for o in children]
    assert sent[0] == PARENT_AT
    assert [b - a for a, b in itertools.pairwise(sent)] == [60 * SECOND] * 9
    assert [o.quantity.as_double() for o in children] == pytest.approx([0.02] * 10)
    assert _filled(children) == pytest.approx(0.2)
    assert _primary(done).status == OrderStatus.FILLED  # it went as the last child
    assert done.algorithms["TWAP"].stopped == {_primary(done).client_order_id.value: "completed"}


def test_twap_limit_children_are_priced_off_the_last_trade_by_the_offset(
    trial, demo_root: str
) -> None:
    done = trial(
        _parent(
            "TWAP",
            0.1,
            horizon_secs=300,
            interval_secs=60,
            child_order_type="limit",
            limit_offset_bps=5.0,
        )
    )
    children = _children(done)
    trades = _trades(demo_root)
    assert len(children) == 5
    for child in children:
        last = trades.filter(pl.col("ts_event") <= _sent_ns(child))["price"][-1]
        assert child.price.as_double() == pytest.approx(last * 1.0005, abs=0.011)
    assert _filled(children) == pytest.approx(0.1)


def test_a_limit_parent_bounds_every_twap_childs_price(trial, demo_root: str) -> None:
    arrival = _trades(demo_root).filter(pl.col("ts_event") <= PARENT_AT)["price"][-1]
    bound = round(arrival * 1.0002, 2)  # under the 5 bps the children would otherwise pay
    parent = ParentSpec(
        BTC,
        "BUY",
        0.1,
        PARENT_AT,
        "TWAP",
        {"horizon_secs": 300, "interval_secs": 60, "child_order_type": "limit"},
        bound,
    )
    done = trial(parent)
    children = _children(done)
    prices = [o.price.as_double() for o in children]
    assert children and max(prices) <= bound and bound in prices


def test_twap_randomised_times_are_seeded_within_the_jitter_and_keep_the_horizon(trial) -> None:
    times = slot_times(0, 10, 60, jitter=0.3, seed=11)
    gaps = np.diff(times) / SECOND
    assert times == slot_times(0, 10, 60, jitter=0.3, seed=11)
    assert times != slot_times(0, 10, 60, jitter=0.3, seed=12)
    assert ((gaps >= 60 * 0.7 - 1e-6) & (gaps <= 60 * 1.3 + 1e-6)).all()
    assert len(set(np.round(gaps, 3))) > 1
    assert (times[0], times[-1]) == (0, 9 * 60 * SECOND)
    # In a backtest the children go exactly at those times.
    done = trial(_parent("TWAP", 0.2, horizon_secs=600, interval_secs=60, randomise=0.3, seed=11))
    sent = [_sent_ns(o) for o in _children(done)]
    assert sent == [PARENT_AT + t for t in times]


def test_participation_cap_keeps_each_child_within_its_share_of_the_traded_volume(
    trial, demo_root: str
) -> None:
    cap = 0.1
    done = trial(_parent("TWAP", 0.2, horizon_secs=300, interval_secs=60, participation_cap=cap))
    children = _children(done)
    trades = _trades(demo_root)
    since = PARENT_AT - 60 * SECOND
    for child in children:
        sent = _sent_ns(child)
        volume = trades.filter(pl.col("ts_event").is_between(since, sent, closed="right"))["size"]
        assert child.quantity.as_double() <= cap * volume.sum() + 1e-9
        since = sent
    # The cap held children back, so the parent ran past its 5-minute horizon to finish.
    assert _sent_ns(children[-1]) > PARENT_AT + 300 * SECOND
    assert _filled(children) == pytest.approx(0.2)


# -- pre-trade checks ---------------------------------------------------------------------


def test_children_pass_an_order_notional_limit_the_whole_parent_would_break(trial) -> None:
    risk = RiskConfig(max_order_notional=2_500.0)  # the parent is ~19k USDT, a child ~1.9k
    done = trial(_parent("TWAP", 0.2, horizon_secs=600, interval_secs=60), risk=risk)
    children = _children(done)
    assert len(children) == 10
    for child in children:
        assert child.status == OrderStatus.FILLED
        assert child.quantity.as_double() * child.avg_px <= 2_500.0
    assert done.strategy.denied == []


def test_a_child_over_a_limit_is_denied_like_the_strategys_orders_and_the_parent_stops(
    trial,
) -> None:
    risk = RiskConfig(max_order_notional=1_500.0)  # under one ~1.9k child
    done = trial(_parent("TWAP", 0.2, horizon_secs=600, interval_secs=60), risk=risk)
    children = _children(done)
    assert len(children) == 1  # the first child is denied; no other follows
    (child,) = children
    assert child.status == OrderStatus.DENIED
    denied = [e for e in child.events if isinstance(e, OrderDenied)]
    assert denied[0].reason.startswith("order_max_notional: ")
    assert done.strategy.denied == [(child.client_order_id.value, denied[0].reason)]
    primary = _primary(done)
    assert primary.status == OrderStatus.CANCELED and primary.filled_qty.as_double() == 0
    assert (
        "denied: order_max_notional"
        in done.algorithms["TWAP"].stopped[primary.client_order_id.value]
    )


def test_reducing_lets_no_increasing_child_through(trial) -> None:
    def reduce(t: Trial) -> None:
        t.strategy.trading_state = "REDUCING"

    done = trial(
        _parent("TWAP", 0.2, horizon_secs=600, interval_secs=60),
        events=[(PARENT_AT + 90 * SECOND, reduce)],
    )
    statuses = [o.status for o in _children(done)]
    assert statuses == [OrderStatus.FILLED, OrderStatus.FILLED, OrderStatus.DENIED]


# -- the kill -----------------------------------------------------------------------------


def _halt(t: Trial) -> None:
    # What the node's kill switch does (core.live.session._set_state), bar the strategy's own
    # cancel: the algorithms must stop on the risk engine's TradingStateChanged alone.
    t.strategy.trading_state = "HALTED"
    t.engine.kernel.risk_engine.set_trading_state(TradingState.HALTED)


def _cancel_all(t: Trial) -> None:
    # The live strategy's cancel_all_orders_everywhere: Nautilus's cancel_all_orders per id.
    t.strategy.cancel_all_orders(InstrumentId.from_str(BTC))


@pytest.mark.parametrize("kill", [_halt, _cancel_all], ids=["halted", "cancel-all"])
def test_a_kill_mid_algorithm_sends_no_further_child_and_cancels_the_working_ones(
    trial, kill: Callable[[Trial], None]
) -> None:
    killed_at = PARENT_AT + 150 * SECOND
    # Passive limit children (20 bps under the market) stay working: one is out at the kill.
    parent = _parent(
        "TWAP",
        0.2,
        horizon_secs=600,
        interval_secs=60,
        child_order_type="limit",
        limit_offset_bps=-20.0,
    )
    done = trial(parent, events=[(killed_at, kill)])
    children = _children(done)
    assert len(children) >= 3
    assert all(_sent_ns(o) <= killed_at for o in children)
    assert not done.engine.cache.orders_open()
    # Cancelled by the kill, at its instant (the simulated venue cancels when a cancel is sent).
    working_at_kill = [o for o in children if o.ts_closed >= killed_at]
    assert working_at_kill and {o.status for o in working_at_kill} == {OrderStatus.CANCELED}
    assert _primary(done).is_closed
    assert done.algorithms["TWAP"].active_parents == []


# -- VWAP ---------------------------------------------------------------------------------


def test_volume_profile_is_the_share_of_volume_per_bucket_of_the_day_over_days() -> None:
    day = 86_400 * SECOND
    ts = np.array(
        [10 * SECOND, 400 * SECOND, 410 * SECOND, day + 20 * SECOND, day + 3_600 * SECOND]
    )
    sizes = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    profile = volume_profile(ts, sizes, 300)
    assert len(profile) == 288
    assert profile[0] == pytest.approx(5 / 20)  # 10 s and 20 s (the next day) fold together
    assert profile[1] == pytest.approx(5 / 20)
    assert profile[12] == pytest.approx(10 / 20)
    assert sum(profile) == pytest.approx(1.0)
    assert volume_profile(np.array([], dtype=np.int64), np.array([]), 300) == ()


def test_vwap_slot_weights_follow_the_profile_pro_rata_over_each_interval() -> None:
    profile = [0.0] * 288
    profile[144], profile[145], profile[146] = 0.1, 0.3, 0.2  # 12:00, 12:05, 12:10
    noon = 12 * 3_600 * SECOND
    # Five-minute children on the buckets: each gets its bucket's share.
    weights = slot_weights(profile, slot_times(noon, 3, 300), 300, 300)
    assert weights == pytest.approx([1 / 6, 3 / 6, 2 / 6])
    # Children straddling buckets get half of each.
    weights = slot_weights(profile, slot_times(noon + 150 * SECOND, 2, 300), 300, 300)
    assert weights == pytest.approx([0.2 / 0.45, 0.25 / 0.45])
    # No history: even slices.
    assert slot_weights((), slot_times(noon, 4, 60), 60, 300) == [1.0] * 4
    targets = cumulative_targets(0.1, [1 / 6, 3 / 6, 2 / 6], LOT)
    assert targets[-1] == pytest.approx(0.1)
    shares = [1 / 6, 0.5, 1 / 3]
    assert all(abs(s - w * 0.1) <= LOT for s, w in zip(slices(targets), shares, strict=True))


def test_vwap_children_follow_the_previous_days_volume_by_time_of_day(
    trial, demo_root: str
) -> None:
    done = trial(_parent("VWAP", 0.3, horizon_secs=1_800, interval_secs=300))
    children = _children(done)
    assert len(children) == slot_count(1_800, 300) == 6
    assert _filled(children) == pytest.approx(0.3)
    # Independently of the algorithm's code: the first demo day's volume in each child's
    # five minutes of the day, as a share of the six.
    history = _trades(demo_root, DAY - dt.timedelta(days=1))
    day_start = int(dt.datetime.combine(DAY - dt.timedelta(days=1), dt.time(), dt.UTC).timestamp())
    volumes = []
    for child in children:
        at = day_start * SECOND + (_sent_ns(child) - PARENT_AT) + (PARENT_AT % (86_400 * SECOND))
        window = history.filter(pl.col("ts_event").is_between(at, at + 300 * SECOND, "left"))
        volumes.append(window["size"].sum())
    shares = np.array(volumes) / sum(volumes)
    sizes = np.array([o.quantity.as_double() for o in children])
    assert sizes == pytest.approx(shares * 0.3, abs=2 * LOT)
    assert sizes.std() > 0.002  # not a TWAP in disguise
    # And the schedule is the pure function's.
    profile = load_profile(demo_root, BTC, DAY, 5, 300)
    times = slot_times(PARENT_AT, 6, 300)
    expected = slices(cumulative_targets(0.3, slot_weights(profile, times, 300, 300), LOT))
    assert sizes == pytest.approx(expected, abs=LOT / 2)


# -- iceberg ------------------------------------------------------------------------------


def _working_peak(children: list[Order]) -> float:
    """Most quantity ever out at once, from the children's events (sent to closed)."""
    edges: list[tuple[int, float]] = []
    for order in children:
        edges.append((_sent_ns(order), order.quantity.as_double()))
        edges.append((order.ts_closed, -order.quantity.as_double()))
    out, peak = 0.0, 0.0
    for _, change in sorted(edges, key=lambda e: (e[0], e[1])):  # closes before sends
        out += change
        peak = max(peak, out)
    return peak


def test_iceberg_never_shows_more_than_its_display_quantity_and_fills_the_parent(trial) -> None:
    done = trial(_parent("ICEBERG", 0.2, display_qty=0.03, limit_offset_bps=-1.0))
    children = _children(done)
    assert len(children) == 7  # 6 x 0.03 + 0.02
    assert [o.quantity.as_double() for o in children] == pytest.approx([0.03] * 6 + [0.02])
    assert _working_peak(children) == pytest.approx(0.03)
    assert len({o.price for o in children}) == 1  # one price for the whole iceberg
    assert _filled(children) == pytest.approx(0.2)
    # Refills follow fills: each child is sent when the one before has filled.
    for before, after in itertools.pairwise(children):
        assert before.status == OrderStatus.FILLED and _sent_ns(after) >= before.ts_closed


def test_iceberg_on_a_limit_parent_works_at_its_price_and_ends_with_the_parent(trial) -> None:
    parent = ParentSpec(BTC, "BUY", 0.1, PARENT_AT, "ICEBERG", {"display_qty": 0.04}, 96_500.0)
    done = trial(parent)
    children = _children(done)
    assert [o.quantity.as_double() for o in children] == pytest.approx([0.04, 0.04, 0.02])
    assert {o.price.as_double() for o in children} == {96_500.0}
    assert children[-1] is _primary(done) and _primary(done).status == OrderStatus.FILLED


# -- choice and config --------------------------------------------------------------------


def test_choose_algorithm_works_orders_at_or_above_the_notional_and_leaves_others_plain() -> None:
    config = ExecutionConfig(algorithm="twap", algorithm_above_notional=10_000.0)
    assert choose_algorithm(9_999.0, config) is None
    chosen = choose_algorithm(10_000.0, config)
    assert chosen is not None and chosen.exec_algorithm_id.value == "TWAP"
    assert chosen.exec_algorithm_params["horizon_secs"] == 600.0
    assert choose_algorithm(1e9, ExecutionConfig()) is None  # "market": no algorithm
    assert (
        choose_algorithm(1.0, ExecutionConfig(algorithm="vwap")).exec_algorithm_id.value == "VWAP"
    )
    iceberg = choose_algorithm(1.0, ExecutionConfig(algorithm="iceberg", iceberg_display_qty=0.5))
    assert iceberg.exec_algorithm_params["display_qty"] == 0.5


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"participation_cap": 1.5}, "execution.participation_cap"),
        ({"twap_interval_secs": 0.0}, "execution.twap_interval_secs"),
        ({"twap_interval_secs": 900.0}, "execution.twap_interval_secs"),
        ({"twap_randomise": 1.0}, "execution.twap_randomise"),
        ({"vwap_bucket_secs": 7}, "execution.vwap_bucket_secs"),
        ({"iceberg_display_fraction": 0.0}, "execution.iceberg_display_fraction"),
        ({"algorithm_above_notional": -1.0}, "execution.algorithm_above_notional"),
        ({"limit_offset_bps": float("nan")}, "execution.limit_offset_bps"),
    ],
)
def test_a_bad_execution_setting_is_one_line_naming_the_field(values: dict, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(AppConfig(execution=ExecutionConfig(**values)), "desk.toml")
    message = str(caught.value)
    assert message.startswith(f"desk.toml: {field}: ") and "\n" not in message


def test_the_execution_section_is_read_from_the_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    path.write_text('[execution]\nalgorithm = "vwap"\nvwap_lookback_days = 3\n')
    execution = load_config(path).execution
    assert (execution.algorithm, execution.vwap_lookback_days) == ("vwap", 3)
    path.write_text('[execution]\nalgorithm = "pov"\n')
    with pytest.raises(ConfigError, match=r"desk.toml: execution.algorithm: "):
        load_config(path)
    path.write_text("[execution]\ntwap_horizon = 60\n")
    with pytest.raises(ConfigError, match=r"unknown key 'execution.twap_horizon'"):
        load_config(path)


def test_a_bad_parameter_on_the_parent_denies_it_naming_the_parameter(trial) -> None:
    done = trial(_parent("TWAP", 0.2, horizon_secs=600, interval_secs=900))
    primary = _primary(done)
    assert primary.status == OrderStatus.DENIED
    reason = next(e for e in primary.events if isinstance(e, OrderDenied)).reason
    assert reason == "exec_algorithm_params.interval_secs: 900 is not in [0.001, 600]"
    assert _children(done) == [primary]


# -- on the node --------------------------------------------------------------------------


def _spawned(cache) -> list[Order]:
    return [o for o in cache.orders() if o.exec_spawn_id not in (None, o.client_order_id)]


async def test_on_the_node_a_kill_stops_a_twap_and_cancels_its_working_child(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    """The live path: the rebalancer's parent worked by the TWAP on the node's live clock,
    then the console's kill (``NodeSession.hold``) in the middle of it."""
    config = node_config(config_writer, tmp_path, demo_root)
    # Passive limit children (50 bps under the market) stay working, a slot every 0.5 s.
    execution = ExecutionConfig(
        algorithm="twap",
        twap_horizon_secs=5.0,
        twap_interval_secs=0.5,
        child_order_type="limit",
        limit_offset_bps=-50.0,
    )
    config = msgspec.structs.replace(config, execution=execution)
    async with await OmsStore.open(config.oms.database) as store:
        session = NodeSession(config, store)
        state = await session.start()
        try:
            assert state.node_state == "RUNNING", state.detail
            twap = next(a for a in session.engine.exec_algorithms if a.id.value == "TWAP")
            cache = session.strategy.cache
            write_targets(config, {BTC: 0.2})
            await until(lambda: len(_spawned(cache)) >= 3, what="three TWAP children")
            session.hold("HALTED")
            killed = time.time_ns()
            await until(lambda: not cache.orders_open(), what="no order left working")
            await asyncio.sleep(1.2)  # two more slots' time: nothing may follow
            children = _spawned(cache)
            assert all(o.ts_init <= killed for o in children)
            assert any(o.status == OrderStatus.CANCELED for o in children)
            assert twap.active_parents == [] and "trading HALTED" in twap.stopped.values()
            parents = [o for o in cache.orders() if o.exec_spawn_id == o.client_order_id]
            assert parents and all(o.is_closed for o in parents)
        finally:
            await session.stop()


# -- children judged at the market, minimums, pacing -----------------------------------------


def test_market_children_are_judged_at_the_market_when_sent_not_at_the_arrival_price(
    trial, demo_root: str
) -> None:
    # A 1 bps tolerance: the price drifts more than that over ten minutes, so a child judged
    # at the parent's arrival price would be denied as a stale price; judged at the market
    # when it goes, each passes.
    trades = _trades(demo_root).filter(
        pl.col("ts_event").is_between(PARENT_AT, PARENT_AT + 600 * SECOND)
    )
    drift = (trades["price"].max() - trades["price"].min()) / trades["price"][0] * 10_000
    assert drift > 5  # the premise: an arrival-priced check would break the tolerance
    done = trial(
        _parent("TWAP", 0.2, horizon_secs=600, interval_secs=60),
        risk=RiskConfig(price_tolerance_bps=1.0),
    )
    children = _children(done)
    assert len(children) == 10
    assert all(child.status == OrderStatus.FILLED for child in children)
    assert done.strategy.denied == []
    assert _filled(children) == pytest.approx(0.2)


def test_merge_small_rolls_small_slices_forward_and_merges_a_small_tail_into_the_one_before() -> (
    None
):
    lot = 1.0
    # Targets 2, 5, 7, 10 with a minimum of 3: the first slot's 2 rolls into the second (5 in
    # all), the third's 2 rolls into the last (5).
    assert merge_small([2.0, 5.0, 7.0, 10.0], 3.0, lot) == [0.0, 5.0, 5.0, 10.0]
    # A tail under the minimum joins the slice before it: 9 then 1 becomes 10 at the end.
    assert merge_small([3.0, 6.0, 9.0, 10.0], 3.0, lot) == [3.0, 6.0, 6.0, 10.0]
    # Under two minimums: the whole parent in the first slot, one order.
    assert merge_small([1.0, 2.0, 4.0, 5.0], 3.0, lot) == [5.0, 5.0, 5.0, 5.0]
    # Nothing to merge: unchanged.
    assert merge_small([3.0, 6.0, 9.0, 12.0], 3.0, lot) == [3.0, 6.0, 9.0, 12.0]


def _notional(order: Order) -> float:
    return order.quantity.as_double() * order.avg_px


def test_a_small_twap_parent_sends_no_child_below_the_venues_minimum_notional(trial) -> None:
    # 0.00058 BTC (~55 USDT) in ten slices would be 0.00005-0.00006 BTC (~5 USDT) each, some
    # under the 5 USDT minimum notional (the venue denies them): the slices merge instead.
    done = trial(_parent("TWAP", 0.00058, horizon_secs=600, interval_secs=60))
    children = _children(done)
    assert done.strategy.denied == []
    assert 1 < len(children) < 10
    assert all(child.status == OrderStatus.FILLED for child in children)
    assert min(_notional(child) for child in children) >= 5.0
    assert _filled(children) == pytest.approx(0.00058)


def test_a_twap_parent_under_two_minimums_goes_as_one_order_at_once(trial) -> None:
    done = trial(_parent("TWAP", 0.0001, horizon_secs=600, interval_secs=60))  # ~9.5 USDT
    (child,) = _children(done)
    assert _sent_ns(child) == PARENT_AT
    assert child.status == OrderStatus.FILLED and child.quantity.as_double() == pytest.approx(
        0.0001
    )


def test_an_iceberg_leftover_under_the_minimum_notional_joins_the_last_refill(trial) -> None:
    # 0.18003 in displays of 0.03: the leftover 0.00003 BTC (~3 USDT) cannot trade alone.
    done = trial(_parent("ICEBERG", 0.18003, display_qty=0.03, limit_offset_bps=-1.0))
    children = _children(done)
    assert [o.quantity.as_double() for o in children] == pytest.approx([0.03] * 5 + [0.03003])
    assert done.strategy.denied == []
    assert _filled(children) == pytest.approx(0.18003)


def _most_in_window(times: list[int], window_ns: int) -> int:
    return max(sum(1 for other in times if start <= other < start + window_ns) for start in times)


def test_iceberg_refills_wait_for_the_velocity_limits_instead_of_being_denied(trial) -> None:
    # Marketable refills of 0.005 (40 of them) follow each fill at the pace trades print: far
    # more than 10 a minute. Paced, the algorithm waits: nothing is denied, every window stays
    # under the limits' warning level (80%: 1 a second, 7 a minute) and the parent fills.
    risk = RiskConfig(max_orders_per_second=2, max_orders_per_minute=10)
    done = trial(_parent("ICEBERG", 0.2, display_qty=0.005, limit_offset_bps=5.0), risk=risk)
    children = _children(done)
    assert done.strategy.denied == []
    assert len(children) == 40
    assert _filled(children) == pytest.approx(0.2)
    sent = [_sent_ns(o) for o in children]
    assert _most_in_window(sent, SECOND) <= 1
    assert _most_in_window(sent, 60 * SECOND) == 7  # the pace binds: the test shows it waits
