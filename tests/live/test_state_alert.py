"""A real shadow node's trading-state alert says who changed the state, from where, when and why:
an operator's kill from a shell (user@host), not only "trading state HALTED"."""

from __future__ import annotations

import socket
from pathlib import Path

from node_helpers import alerts_of, node_config, running, until

from core.risk.trading_state import change_trading_state


async def test_the_nodes_alert_names_who_halted_from_where_and_why(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    config = node_config(config_writer, tmp_path, demo_root)
    async with running(config) as (session, store):
        await change_trading_state(store, "HALTED", "alice", "fat [b]finger[/b]", source="cli")
        await until(lambda: session.trading_state == "HALTED", what="the node HALTED")
        [alert] = [a for a in await alerts_of(store, "trading_state") if "HALTED" in a.message]
        host = socket.gethostname().split(".")[0]
        assert alert.message.startswith(f"trading state HALTED by alice@{host} from a shell at ")
        assert alert.message.endswith(" UTC: fat [b]finger[/b]")
        assert alert.severity == "CRITICAL"
        assert alert.details is not None
        assert (alert.details["actor"], alert.details["source"]) == ("alice", "cli")
