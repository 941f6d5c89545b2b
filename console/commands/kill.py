"""``trade-console kill`` and ``rearm``: the kill switch from another shell.

For an operator whose console has frozen, or who is not at it: the change goes into the OMS the
config names, as the console's ``k`` does (``core.risk.trading_state``), and a running node applies
it within one poll of the OMS. Without a node the change is recorded all the same, and a node
started later comes up in it. Neither command imports Nautilus or Textual: they answer in a fraction
of a second.

Both refuse an OMS that does not exist: from the wrong folder (or without the node's
``--config``) a kill recorded in a new, empty OMS would halt nothing while saying it did. So
they create one only when asked (``--create-oms``: to halt a node before it starts there).

Exit codes: 0 when the change is recorded (the line printed says which state is in force: another
shell's later change may win); 2 with one line on stderr for a bad input (no reason, both
``--flatten`` and ``--reduce-only``, a bad config, no OMS at the configured path, an OMS that
cannot be opened or written), in which case nothing is written and no file is created.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from core.config import load_config
from core.errors import ConfigError
from core.oms import OmsMissingError, OmsStore
from core.risk.trading_state import (
    StateRequest,
    change_trading_state,
    check_request,
    operator_name,
    outcome_message,
    read_trading_state,
)


def run_kill(args: argparse.Namespace) -> int:
    """Halt (or reduce only, or flatten) trading; print the state now in force."""
    if args.flatten and args.reduce_only:
        raise ConfigError("--flatten and --reduce-only exclude each other: choose one")
    state = "REDUCING" if args.reduce_only else "HALTED"
    return _change(args, state, flatten=args.flatten)


def run_rearm(args: argparse.Namespace) -> int:
    """Return trading to ACTIVE; print the state now in force."""
    return _change(args, "ACTIVE", flatten=False)


def _change(args: argparse.Namespace, state: str, *, flatten: bool) -> int:
    actor = operator_name()
    # Checked before the config and the OMS are opened: a refused command leaves no trace.
    request = check_request(state, actor, args.reason or "", flatten=flatten)
    config = load_config(getattr(args, "config", None))
    create = getattr(args, "create_oms", False)
    print(asyncio.run(_record(config.oms.location, request, actor, create=create)))
    return 0


async def _record(database: str, request: StateRequest, actor: str, *, create: bool) -> str:
    # No integrity check: it reads the whole file, and a kill must not wait for that.
    try:
        store = await OmsStore.open(database, check_integrity=False, create=create)
    except OmsMissingError as error:
        raise OmsMissingError(
            "no OMS here, nothing was recorded: run from the node's folder or pass its "
            "--config (--create-oms records it in a new OMS here)",
            error.source,
        ) from None
    async with store:
        in_force = await change_trading_state(
            store,
            request.state,
            actor,
            request.reason,
            flatten=request.flatten,
            source="cli",
        )
        view = await read_trading_state(store, now_ns=time.time_ns())
    return outcome_message(request, in_force, view.node_listening)
