"""After a flatten: the targets it replaced, which a re-arm may offer back.

A flatten sets every target in force to 0 (a ``TargetsRecord`` of source ``flatten``); a re-arm
alone leaves them at 0, so the node holds nothing until research writes a new file. The record
before the flatten says which targets were in force, and the operator may restore them (the
node re-applies them as it applies a research file: ``NodeSession.restore_targets``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.oms import OmsStore, TargetsRecord

HISTORY_LIMIT = 50
"""How far back the targets before a flatten are looked for (later flattens are skipped)."""


@dataclass(frozen=True)
class RestoreOffer:
    """The targets in force are a flatten's (all 0); these were in force before it."""

    flatten: TargetsRecord
    """The flatten's record: the targets in force now."""
    previous: TargetsRecord | None
    """The targets in force before the flatten (before any flatten in a row); None when the
    OMS holds none."""


def restore_offer(history: Sequence[TargetsRecord]) -> RestoreOffer | None:
    """The offer ``history`` (newest first) makes; None unless the latest change is a flatten."""
    if not history or history[0].source != "flatten":
        return None
    previous = next((record for record in history[1:] if record.source != "flatten"), None)
    return RestoreOffer(flatten=history[0], previous=previous)


async def read_restore_offer(store: OmsStore) -> RestoreOffer | None:
    """The offer as the OMS has it now (see ``restore_offer``).

    Raises
    ------
    OmsError
        The OMS cannot be read.
    """
    return restore_offer(await store.targets_history(limit=HISTORY_LIMIT))
