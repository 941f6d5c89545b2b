"""Fitting a table's columns to its width: numbers whole or not at all, the least important
columns dropped first, texts cut with an ellipsis, the room left to a growing column."""

from __future__ import annotations

from rich.text import Text

from console.widgets.column_layout import Column, fit, fitted

PRICE = Column("avg px", 6, numeric=True)
NAME = Column("instrument", 15)
TIME = Column("time", 8, priority=3)
ROUTE = Column("route", 26, priority=5)


def shown(columns: list[Column], widest: list[int], room: int) -> dict[str, int]:
    return {columns[index].label: width for index, width in fit(columns, widest, room)}


def test_everything_fits_when_there_is_room() -> None:
    columns = [TIME, NAME, PRICE, ROUTE]
    assert shown(columns, [8, 15, 9, 20], 160) == {
        "time": 8,
        "instrument": 15,
        "avg px": 9,
        "route": 20,
    }


def test_a_number_wider_than_its_column_widens_it() -> None:
    assert shown([NAME, PRICE], [15, 12], 80)["avg px"] == 12


def test_the_highest_priority_number_is_dropped_first_and_the_rest_stay_whole() -> None:
    columns = [TIME, NAME, PRICE, ROUTE]
    # 10 + 17 + 11 + 28 = 66 > 50: the route goes (priority 5), then 38 fits.
    assert shown(columns, [8, 15, 9, 26], 50) == {"time": 8, "instrument": 15, "avg px": 9}
    # 38 > 30: the time goes next, not the price.
    assert shown(columns, [8, 15, 9, 26], 30) == {"instrument": 15, "avg px": 9}


def test_of_equal_priority_the_rightmost_goes_first() -> None:
    columns = [NAME, PRICE, Column("last", 4, numeric=True)]
    assert shown(columns, [15, 9, 9], 30) == {"instrument": 15, "avg px": 9}


def test_a_growing_column_takes_the_room_left() -> None:
    columns = [TIME, Column("message", 20, grow=True)]
    assert shown(columns, [8, 400], 80) == {"time": 8, "message": 80 - 10 - 2}
    assert shown(columns, [8, 400], 160)["message"] == 160 - 12


def test_a_text_with_a_least_width_is_cut_before_a_column_goes() -> None:
    order = Column("order_id", 27, keep_end=True, min_width=10)
    columns = [order, NAME, PRICE]
    # 10 + 15 + 9 and their padding take 40: the id is cut to 10, the price stays.
    assert shown(columns, [27, 15, 9], 40) == {"order_id": 10, "instrument": 15, "avg px": 9}
    assert shown(columns, [27, 15, 9], 50)["order_id"] == 20
    assert shown(columns, [27, 15, 9], 60)["order_id"] == 27


def test_a_number_is_padded_to_the_right_and_never_cut() -> None:
    assert fitted(Text("93,973.61"), PRICE, 11).plain == "  93,973.61"


def test_a_cut_text_ends_in_an_ellipsis_or_keeps_its_end() -> None:
    assert fitted(Text("PARTIALLY_FILLED"), Column("status", 10), 10).plain == "PARTIALLY…"
    order = Column("order", 22, keep_end=True)
    assert fitted(Text("O-20260105-000259-001-001-1"), order, 12).plain == "…9-001-001-1"
