"""A real shadow node with notifications on: the desk's channels hear of a kill, and a channel
that hangs never slows the kill down."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest
from node_helpers import node_config, running, until
from webhook_server import HangingServer, WebhookServer

from core.config import NotifyConfig
from core.errors import ConfigError
from core.live.session import NodeSession
from core.oms import OmsStore, RiskAlert
from core.risk.trading_state import change_trading_state


async def test_a_kill_reaches_halted_while_a_channel_hangs_and_the_others_hear_of_it(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    base = node_config(config_writer, tmp_path, demo_root)
    with HangingServer() as hanging, WebhookServer() as hook:
        notify = NotifyConfig(urls=(hanging.url(), hook.url()), desk="DESK-A", timeout_secs=60)
        config = msgspec.structs.replace(base, notify=notify)
        async with running(config) as (session, store):
            notifier = session.notifier
            assert notifier is not None
            # Something else went wrong first: the hanging channel is now stuck sending it.
            store.submit(
                RiskAlert(
                    alert_id="earlier",
                    ts_event=time.time_ns(),
                    severity="ERROR",
                    rule="target_file",
                    message="target file refused: weights sum to 1.4",
                )
            )
            await until(lambda: "DESK-A: ERROR target_file" in hook.titles(), what="it sent")
            await until(lambda: notifier._senders[0].sending, what="the hanging channel stuck")

            kill_ns = time.time_ns()
            await change_trading_state(store, "HALTED", "alice", "test kill", source="cli")
            await until(lambda: session.trading_state == "HALTED", what="the node HALTED")
            halted_ms = (session.state_applied_ns - kill_ns) / 1e6
            # HALTED while the hanging channel still hangs: the kill waited for no channel.
            assert notifier._senders[0].sending
            kill_title = "DESK-A: CRITICAL trading_state"
            await until(lambda: kill_title in hook.titles(), what="the kill's message")
            health = dict((name, state) for name, state, _ in session.parts())
        # The node started cleanly: nothing but the two incidents was sent.
        assert hook.titles() == ["DESK-A: ERROR target_file", kill_title]
        assert "trading state HALTED by alice" in hook.received[1]["message"]
        assert health["notify 1"] == "OK" and health["notify 2"] == "OK"
        print(f"kill -> HALTED with a channel hanging: {halted_ms:.1f} ms")


async def test_a_channel_whose_secret_is_not_set_refuses_the_node_before_it_is_built(
    config_writer, tmp_path: Path, demo_root: str
) -> None:
    base = node_config(config_writer, tmp_path, demo_root)
    notify = NotifyConfig(urls=("tgram://${DESK_BOT_TOKEN_NOT_SET}/12345",))
    config = msgspec.structs.replace(base, notify=notify)
    async with await OmsStore.open(config.oms.database) as store:
        with pytest.raises(ConfigError) as raised:
            await NodeSession.create(config, store)
        assert str(raised.value) == (
            "notify.urls.0: ${DESK_BOT_TOKEN_NOT_SET} is not set in the node's environment"
        )
        assert await store.node_holder() is None  # the OMS was let go again
        assert await store.node_status() is None  # no heartbeat: nothing of the node ran
