"""``TableDigest``: equal only for the same rows, in any order, with every double bit for bit."""

from __future__ import annotations

import pytest

from core.oms.table_digest import TableDigest


def digest(*rows: tuple) -> TableDigest:
    summed = TableDigest()
    summed.add_all(rows)
    return summed


def test_the_same_rows_in_any_order_give_the_same_checksum() -> None:
    rows = [("O-1", 1, 0.25, None), ("O-2", 2, 94_000.5, "x"), ("O-3", 3, 1e-300, "é😀")]
    forward, backward = digest(*rows), digest(*reversed(rows))
    assert (
        (forward.rows, forward.checksum)
        == (backward.rows, backward.checksum)
        == (
            3,
            forward.checksum,
        )
    )
    assert len(forward.checksum) == 64


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (0.1 + 0.2, 0.3),  # one unit in the last place apart
        (-0.0, 0.0),
        (1, 1.0),
        ("1", 1),
        (None, ""),
        (5e-324, 0.0),
    ],
    ids=["last-bit", "signed-zero", "int-float", "text-int", "null-empty", "subnormal"],
)
def test_values_that_differ_in_any_bit_or_type_give_different_checksums(
    one: object, other: object
) -> None:
    assert digest(("k", one)).checksum != digest(("k", other)).checksum


def test_a_row_missing_or_repeated_changes_the_checksum() -> None:
    rows = [("a", 1.5), ("b", 2.5)]
    whole = digest(*rows).checksum
    assert digest(rows[0]).checksum != whole
    assert digest(*rows, rows[1]).checksum != whole
    assert digest(("a", 2.5), ("b", 1.5)).checksum != whole  # values swapped between rows
