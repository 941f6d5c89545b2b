"""``AccountEventTrim``: keeps a long backtest's memory from growing with its account history.

Nautilus keeps every ``AccountState`` an account ever emitted (one per fill and more, each with
its balances): a 5-year signal-driven run emits millions, hundreds of megabytes that nothing
of ours reads again (the equity recorder and the OMS feed take each state as it is published;
the result files come from the orders and fills). Once a simulated day the actor purges the
states older than a day from the cache's accounts (Nautilus keeps the latest whatever its age),
so the history held stays a day's. Only Nautilus's own post-run account statistics, which the
desk does not use (its metrics come from the equity curve), see fewer states.
"""

from __future__ import annotations

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig

NANOS_PER_DAY = 86_400 * 1_000_000_000
KEEP_SECS = 86_400


class AccountEventTrim(Actor):
    """Purges account states older than a day, once a simulated day."""

    def __init__(self, config: ActorConfig | None = None) -> None:
        super().__init__(config or ActorConfig(component_id="AccountEventTrim"))

    def on_start(self) -> None:
        now = self.clock.timestamp_ns()
        first = (now // NANOS_PER_DAY + 1) * NANOS_PER_DAY
        self.clock.set_timer_ns("account-trim", NANOS_PER_DAY, first, 0, self._on_timer)

    def _on_timer(self, event) -> None:  # TimeEvent
        self.cache.purge_account_events(event.ts_event, KEEP_SECS)
