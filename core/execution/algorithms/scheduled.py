"""Slot-driven working shared by TWAP and VWAP: at each slot, send what the schedule says
should be done by then, within the participation cap, as a market or a limit child.

A subclass only says when the slots are and what share each gets (``plan``). What the cap or
an unfilled limit child holds back is carried to later slots; no slice is below the venue's
minimum quantity or notional (``schedule.merge_small``: small slices roll forward, a small tail
joins the slice before it, a parent under two minimums goes as one order); after the last one the
algorithm keeps a slot every interval until the parent is done (a cap binds: the horizon
stretches rather than the cap breaking). Limit children still working at the next slot are
cancelled and their rest sent again at the new price (re-pegged).
"""

from __future__ import annotations

from typing import Any, Literal

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.model.enums import OrderSide, OrderType

from core.execution.algorithms.base import DeskExecAlgorithm
from core.execution.algorithms.parent import ParentWork, choice, min_tradable, number
from core.execution.algorithms.schedule import (
    NANOS_PER_SECOND,
    cumulative_targets,
    merge_small,
)


class ScheduledExecAlgorithmConfig(ExecAlgorithmConfig, frozen=True):
    """What TWAP and VWAP parents share: defaults of their ``exec_algorithm_params``."""

    horizon_secs: float = 600.0
    interval_secs: float = 60.0
    child_order_type: Literal["market", "limit"] = "market"
    limit_offset_bps: float = 5.0
    participation_cap: float = 0.0


class ScheduledExecAlgorithm(DeskExecAlgorithm):
    """Works a parent along ``plan``'s slot times and shares (see the module docstring)."""

    def plan(
        self, work: ParentWork, params: dict[str, Any], horizon: float, interval: float
    ) -> tuple[list[int], list[float]]:
        """Slot times (ns, the first now) and each slot's share of the parent."""
        raise NotImplementedError

    def begin(self, work: ParentWork, params: dict[str, Any]) -> None:
        config = self.config
        child_type = choice(
            params, "child_order_type", config.child_order_type, ("market", "limit")
        )
        offset = number(params, "limit_offset_bps", config.limit_offset_bps, -1000, 1000)
        cap = number(params, "participation_cap", config.participation_cap, 0, 1)
        horizon = number(params, "horizon_secs", config.horizon_secs, 0.001, 7 * 86_400)
        interval_secs = number(params, "interval_secs", config.interval_secs, 0.001, horizon)
        times, weights = self.plan(work, params, horizon, interval_secs)
        lot = work.instrument.size_increment.as_double()
        minimum = min_tradable(work.instrument, self._plan_price(work))
        work.extra.update(
            times=times,
            targets=merge_small(cumulative_targets(work.total, weights, lot), minimum, lot),
            slot=-1,
            interval_ns=round(interval_secs * NANOS_PER_SECOND),
            limit=child_type == "limit",
            offset_bps=offset,
            cap=cap,
        )
        self._slot(work)

    def _slot(self, work: ParentWork) -> None:
        extra = work.extra
        extra["slot"] += 1
        for order in list(work.working.values()):
            if extra["limit"]:
                self.cancel_child(work, order)  # re-peg: its rest goes again at the new price
        self.send_due(work)
        if work.primary.client_order_id not in self._parents:
            return  # denied or completed at once
        times = extra["times"]
        nxt = extra["slot"] + 1
        when = times[nxt] if nxt < len(times) else self.clock.timestamp_ns() + extra["interval_ns"]
        self.at_time(work, when, self._slot)

    def on_child_done(self, work: ParentWork, filled: bool) -> None:
        if not filled:
            self.guarded(work, self.send_due)  # a re-pegged child's rest, at the current price

    def send_due(self, work: ParentWork) -> None:
        extra = work.extra
        targets = extra["targets"]
        target = targets[min(extra["slot"], len(targets) - 1)]
        lot = work.instrument.size_increment.as_double()
        due = target - (work.total - work.remaining)
        if due < lot / 2:
            return
        quantity = due
        if extra["cap"] > 0:
            now = self.clock.timestamp_ns()
            since = (
                work.last_child_ns if work.last_child_ns is not None else now - extra["interval_ns"]
            )
            allowed = extra["cap"] * self.volume_since(work.instrument.id, since)
            quantity = min(quantity, int(allowed / lot + 1e-9) * lot)
            if quantity < lot / 2:
                self.log.info(f"{work.primary.client_order_id}: participation cap holds the slot")
                return
        price = self._child_price(work)
        minimum = min_tradable(work.instrument, price or self.market_price(work.instrument))
        rest = work.remaining - quantity
        if lot / 2 < rest < minimum - lot / 2:
            # What would be left could never trade alone: it goes with this child (or, under
            # the cap, this child leaves a tradable rest).
            quantity = work.remaining if extra["cap"] <= 0 else work.remaining - minimum
        if quantity < minimum - lot / 2 and quantity < work.remaining - lot / 2:
            return  # too small to trade yet: it rolls into a later slot
        self.send_child(work, quantity, price)

    def _plan_price(self, work: ParentWork) -> float | None:
        # The price the schedule's slices are sized against the venue's minimums at.
        primary = work.primary
        if primary.order_type == OrderType.LIMIT:
            return primary.price.as_double()
        return work.arrival_price

    def _child_price(self, work: ParentWork) -> float | None:
        # A limit parent's price bounds every child: never pay more (or sell for less).
        primary = work.primary
        bound = primary.price.as_double() if primary.order_type == OrderType.LIMIT else None
        if not work.extra["limit"]:
            return bound
        price = self.limit_price(work.instrument, primary.side, work.extra["offset_bps"])
        if bound is None:
            return price
        return min(price, bound) if primary.side == OrderSide.BUY else max(price, bound)
