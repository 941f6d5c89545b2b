"""``OmsPane``: a table pane fed from OMS tables.

A pane only says what it reads (``TABLES``, ``fetch``) and how it looks (``cells``); the app
decides when to read, in a worker, at most once per refresh interval however fast the OMS
changes, and hands the result to ``show``. Data flows one way: OMS -> app -> pane; a pane never
writes and never reaches into a node.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, cast

from console.widgets.table_pane import ROW_LIMIT, TablePane
from core.oms import OmsStore


class PaneHost(Protocol):
    """What an ``OmsPane`` needs of its app: to be told when to read (``TradeConsoleApp``)."""

    def register_view(self, view: OmsPane) -> None: ...

    def unregister_view(self, view: OmsPane) -> None: ...

    def request(self, view: OmsPane) -> None: ...


class OmsPane(TablePane):
    """A ``TablePane`` whose data is read from the OMS when its tables change."""

    TABLES: ClassVar[frozenset[str]] = frozenset()
    """The OMS tables whose commits make this pane's data stale."""

    showing = False
    """On screen now. A hidden pane (another one fills an 80-column terminal) is not read:
    its data waits, marked stale, until it shows again."""

    async def fetch(self, store: OmsStore) -> Any:
        """Read this pane's data (runs in a worker: it reads the OMS, touches no widget)."""
        raise NotImplementedError

    @property
    def limit(self) -> int:
        """How many records to read: the rows the pane keeps, never more."""
        return min(self.row_limit, ROW_LIMIT)

    def on_mount(self) -> None:
        super().on_mount()
        cast(PaneHost, self.app).register_view(self)

    def on_unmount(self) -> None:
        cast(PaneHost, self.app).unregister_view(self)

    def on_show(self) -> None:
        self.showing = True
        cast(PaneHost, self.app).request(self)

    def on_hide(self) -> None:
        self.showing = False
