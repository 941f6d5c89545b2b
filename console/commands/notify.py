"""``trade-console notify --test``: a test message to every ``[notify]`` channel, now.

Prints one line per channel, its URL masked: ``sent`` with the time it took, or ``FAILED`` with
apprise's reason. Each send is recorded in the OMS the config names (as the node's are), when
that OMS exists; none is created for it.

Exit codes: 0 every channel took the message; 1 at least one did not; 2 one line on stderr for
a bad input (no channel configured, a ``${NAME}`` not set, a URL apprise does not know, a bad
config).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from console.logs import log_to_file
from core.config import load_config
from core.errors import ConfigError
from core.notify.test_message import send_test
from core.oms import Notification, OmsError, OmsStore

_log = logging.getLogger(__name__)


def run_notify_command(args: argparse.Namespace) -> int:
    """Send the test message (``--test`` is required: the command does nothing else yet)."""
    if not args.test:
        raise ConfigError("notify: say --test to send a test message to every channel")
    config = load_config(getattr(args, "config", None))
    log_to_file(config)  # apprise's own warnings go to the log; the lines below say it all
    outcomes = send_test(config)
    for channel, result, _ in outcomes:
        if result.ok:
            print(f"sent    {channel.name} ({result.elapsed_ms:.0f} ms)")
        else:
            print(f"FAILED  {channel.name}: {result.error}")
    recorded = asyncio.run(_record(config.oms.location, [r for _, _, r in outcomes]))
    if not recorded:
        print(f"(not recorded: no OMS at {config.oms.location})")
    return 0 if all(result.ok for _, result, _ in outcomes) else 1


async def _record(database: str, records: list[Notification]) -> bool:
    try:
        async with await OmsStore.open(database, create=False, check_integrity=False) as store:
            store.submit_many(records)
            await store.flush()
    except OmsError as error:
        _log.warning("notify --test: not recorded in %s: %s", database, error)
        return False
    return True
