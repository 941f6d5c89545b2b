"""After a flatten, the targets a re-arm may restore: read from the node's targets records in a
real OMS file (the node writing them is tested with the node, in the console)."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_seed import BTC, ETH, NOW, SECOND

from core.oms import OmsStore, TargetsRecord
from core.risk.restore import read_restore_offer

RESEARCH = {BTC: 0.4, ETH: 0.3}


def targets(offset: int, source: str, weights: dict[str, float]) -> TargetsRecord:
    return TargetsRecord(
        ts_event=NOW + offset * SECOND,
        source=source,
        weights=weights,
        operation_id=f"{source}-{offset}",
        actor="research-v1" if source == "file" else "alice",
        as_of=NOW - SECOND if source == "file" else None,
    )


FILE = targets(0, "file", RESEARCH)
FLATTEN = targets(1, "flatten", {BTC: 0.0, ETH: 0.0})


async def offer_after(tmp_path: Path, records: list[TargetsRecord]):
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many(records)
        await store.flush()
        return await read_restore_offer(store)


async def test_a_targets_record_round_trips_with_its_weights(tmp_path: Path) -> None:
    async with await OmsStore.open(tmp_path / "oms.sqlite") as store:
        store.submit_many([FILE, FLATTEN, FILE])  # the same record twice is one row
        await store.flush()
        assert await store.targets_history() == [FLATTEN, FILE]


async def test_after_a_flatten_the_targets_in_force_before_it_are_offered(tmp_path: Path) -> None:
    offer = await offer_after(tmp_path, [targets(-5, "file", {BTC: 0.1}), FILE, FLATTEN])
    assert offer is not None
    assert (offer.flatten, offer.previous) == (FLATTEN, FILE)


async def test_a_second_flatten_in_a_row_still_offers_the_research_targets(tmp_path: Path) -> None:
    offer = await offer_after(tmp_path, [FILE, FLATTEN, targets(2, "flatten", FLATTEN.weights)])
    assert offer is not None and offer.previous == FILE
    assert offer.flatten.ts_event == NOW + 2 * SECOND


async def test_a_flatten_with_nothing_before_it_offers_nothing_to_restore(tmp_path: Path) -> None:
    offer = await offer_after(tmp_path, [FLATTEN])
    assert offer is not None and (offer.flatten, offer.previous) == (FLATTEN, None)


@pytest.mark.parametrize(
    "records",
    [
        [],
        [FILE],
        [FILE, FLATTEN, targets(2, "restore", RESEARCH)],
        [FILE, FLATTEN, targets(2, "file", {BTC: 0.2})],
        [FILE, FLATTEN, targets(2, "preview", {BTC: 0.2, ETH: 0.0})],
    ],
    ids=["none", "file", "restored", "new-file", "preview"],
)
async def test_targets_not_set_by_a_flatten_offer_nothing(
    tmp_path: Path, records: list[TargetsRecord]
) -> None:
    assert await offer_after(tmp_path, records) is None
