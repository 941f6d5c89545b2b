"""Live: the node that trades the desk's targets, LIVE or SHADOW (live data, simulated fills).

Owns the Nautilus node factory (``node``), its venues (``venues``) and the REPLAY data client
(``replay_client``), the node's strategy (``strategy``), the session that runs it inside the
console's loop or headless (``session``: heartbeat, the kill switch, the target-file watcher,
drift, external venues), one node per OMS (``lease``), the watcher itself (``watcher``) and spec
reconciliation (``reconciliation``). A SHADOW node fills on the backtest's simulated venue,
which is why it may import ``core.backtest``.

May import: ``core.backtest``, ``core.execution``, ``core.risk``, ``core.portfolio``,
``core.oms``, ``core.data``, ``core.storage``.
"""
