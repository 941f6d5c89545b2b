"""Fixtures of the console tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from console_seed import desk_records

from core.oms import OmsStore


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[OmsStore]:
    """An OMS holding the seeded desk (no node running)."""
    store = await OmsStore.open(tmp_path / "oms.sqlite")
    store.submit_many(desk_records())
    await store.flush()
    yield store
    await store.close()
