"""The notifier's alert cursor on both back ends: every alert the node's OMS holds is read
once, whatever order the writers' clocks stamped and committed them in."""

from __future__ import annotations

import time

from core.notify.alert_cursor import WindowCursor, cursor_for
from core.oms import OmsStore, RiskAlert
from core.oms.sync_reader import connect_read_only

S = 1_000_000_000
T0 = 1_767_571_200_000_000_000  # 2026-01-05 00:00 UTC in ns


def alert(name: str, ts: int, run_id: str | None = None) -> RiskAlert:
    return RiskAlert(
        alert_id=name,
        ts_event=ts,
        severity="ERROR",
        rule="target_file",
        message=name,
        run_id=run_id,
    )


async def written(store: OmsStore, *alerts: RiskAlert) -> None:
    store.submit_many(alerts)
    await store.flush()


async def test_an_alert_committed_late_with_an_earlier_stamp_is_read_once(
    oms_location: str,
) -> None:
    async with await OmsStore.open(oms_location) as store:
        await written(store, alert("before-start", T0))
        with connect_read_only(store.path) as reader:
            cursor = cursor_for(reader, time.time_ns)
            cursor.start(reader)
            assert cursor.new_alerts(reader, 500) == []
            await written(store, alert("b", T0 + 10 * S))
            assert [a.alert_id for a in cursor.new_alerts(reader, 500)] == ["b"]
            # A console's alert, stamped before b by a slower clock, committed after it.
            await written(store, alert("a", T0 + 5 * S))
            assert [a.alert_id for a in cursor.new_alerts(reader, 500)] == ["a"]
            assert cursor.new_alerts(reader, 500) == []
            await written(store, alert("a", T0 + 5 * S), alert("c", T0 + 11 * S))  # a again
            assert [a.alert_id for a in cursor.new_alerts(reader, 500)] == ["c"]


async def test_a_burst_beyond_one_read_is_read_whole_in_order_and_once(oms_location: str) -> None:
    async with await OmsStore.open(oms_location) as store:
        with connect_read_only(store.path) as reader:
            cursor = cursor_for(reader, time.time_ns)
            cursor.start(reader)
            burst = [alert(f"x{n:04d}", T0 + n) for n in range(1_234)]
            await written(store, *burst, alert("backtest", T0, run_id="BT-1"))
            read: list[str] = []
            while chunk := cursor.new_alerts(reader, 500):
                read += [a.alert_id for a in chunk]
            assert read == [a.alert_id for a in burst]


async def test_an_alert_is_in_the_catch_up_or_read_after_it_never_both(
    oms_location: str,
) -> None:
    async with await OmsStore.open(oms_location) as store:
        await written(store, alert("old", T0), alert("older", T0 - S))
        with connect_read_only(store.path) as reader:
            cursor = cursor_for(reader, time.time_ns)
            condition, params = cursor.start(reader)
            # Committed between the cursor's start and the catch-up's read.
            await written(store, alert("new", T0 + S), alert("late", T0 - 2 * S))
            caught_up = [
                alert(row[0], row[1])
                for row in reader.fetch(
                    f"SELECT alert_id, ts_event FROM risk_alerts WHERE {condition}", params
                )
            ]
            cursor.remember(caught_up)
            read_after = [a.alert_id for a in cursor.new_alerts(reader, 500)]
            read_after += [a.alert_id for a in cursor.new_alerts(reader, 500)]
        caught = [a.alert_id for a in caught_up]
        assert {"old", "older"} <= set(caught)
        assert sorted(caught + read_after) == ["late", "new", "old", "older"]


async def test_the_window_forgets_ids_behind_it_and_never_reads_them_again(
    oms_location: str,
) -> None:
    # The window cursor alone, on either back end: 10 s of look-back, at most 3 ids kept.
    async with await OmsStore.open(oms_location) as store:
        with connect_read_only(store.path) as reader:
            cursor = WindowCursor(time.time_ns, window_secs=10, max_seen=3)
            cursor.start(reader)
            await written(store, *(alert(f"w{n}", T0 + n * S) for n in range(5)))
            assert [a.alert_id for a in cursor.new_alerts(reader, 500)] == [
                f"w{n}" for n in range(5)
            ]
            assert len(cursor._seen) == 3  # the newest three, w2..w4
            # Within the window but behind the kept ids: late, read once. Behind the window
            # (more than 10 s before the cursor): the documented miss.
            await written(store, alert("late", T0 + 3 * S), alert("too-late", T0 - 20 * S))
            assert [a.alert_id for a in cursor.new_alerts(reader, 500)] == ["late"]
            assert cursor.new_alerts(reader, 500) == []
