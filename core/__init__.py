"""trade-console's domain: everything but the screen.

``core`` never imports ``textual``, ``console`` or ``themes``: the console renders what core
produces, and the CLI, a headless node and the console use the same core. Its packages are the
desk's parts; data flows one way, Nautilus events -> OMS (SQLite) -> readers, and operator
commands travel the other way through small calls (``core.risk.trading_state``,
``core.runs.launcher``...) that land in the OMS's audit log.

At the root only what every part shares: ``config`` (the TOML file as frozen structs),
``errors`` (the one-line error types) and ``fd_capture`` (keeping Nautilus's fd 1/2 writes off
the terminal).

``ALLOWED_IMPORTS`` is the layering, written once: which packages each package may import (the
root modules serve all of them). ``tests/test_architecture.py`` checks every import in core
against it and fails on any import cycle in core or the console; the architecture page of the
docs shows it.
"""

_STORAGE = frozenset({"storage"})
_BOOKS = _STORAGE | {"oms", "portfolio"}
_ORDERS = _BOOKS | {"data", "risk"}

ALLOWED_IMPORTS: dict[str, frozenset[str]] = {
    "storage": frozenset(),
    "data": _STORAGE,
    "oms": _STORAGE,
    "portfolio": frozenset(),
    "fills": frozenset(),
    "risk": _BOOKS,
    "execution": _ORDERS,
    "backtest": _ORDERS | {"execution", "fills"},
    "notify": _STORAGE | {"oms"},
    "monitor": _STORAGE | {"oms"},
    "live": _ORDERS | {"execution", "backtest", "fills", "notify", "monitor"},
    "runs": _ORDERS | {"execution", "backtest"},
}
"""Package -> the packages it may import, lowest first in the listing: ``storage`` (reaching a
root), ``data`` (the desk's files), ``oms`` (the order store), ``portfolio`` (rebalance
arithmetic), ``fills`` (how the simulated venue fills), ``risk``, ``execution``, ``backtest``,
``notify`` (messages to the desk's channels) and ``monitor`` (the health endpoint), then
``live`` and ``runs``, which never import each other."""
