"""``ExternalVenueAdapter``: what the desk needs of a venue Nautilus has no adapter for.

An adapter speaks one venue's protocol and answers in the plain frozen structs below, whose
words are Nautilus's (``BUY``, ``LIMIT``, ``PARTIALLY_FILLED``, ``TAKER``), so the OMS, the
panes and the router treat an external venue's orders like a Nautilus venue's. Instruments are
named ``SYMBOL.VENUE`` (``BTCUSD.GEMINI``) as Nautilus names its own.

Every call is a coroutine: the poller runs on the node's event loop and must
never block it. Errors are ``core.execution.external.errors`` types, one line each.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from core.config import ExternalVenueConfig

_STRUCT = {"frozen": True, "kw_only": True}

Side = Literal["BUY", "SELL"]
OrderType = Literal["LIMIT", "MARKET"]
TimeInForce = Literal["GTC", "IOC", "FOK"]


class Credentials(msgspec.Struct, **_STRUCT):
    """An API key and secret, read from the environment (never from the config file)."""

    api_key: str
    api_secret: str

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credentials(api_key={self.api_key[:4]}...)"


class ExternalInstrument(msgspec.Struct, **_STRUCT):
    """One tradable instrument of the venue."""

    instrument_id: str
    """``SYMBOL.VENUE``, the desk's name for it."""
    symbol: str
    """The venue's own name (``btcusd``)."""
    base: str
    quote: str
    price_increment: float
    size_increment: float
    min_quantity: float
    kind: Literal["spot", "perp"]
    status: str
    """The venue's word for whether it trades (``open``, ``closed``, ``cancel_only``...)."""


class OrderRequest(msgspec.Struct, **_STRUCT):
    """An order the desk wants at an external venue.

    ``client_order_id`` is the OMS key: the order is written under it before the request
    leaves, so the venue's answer, the poller and a restart all find the same row.
    """

    client_order_id: str
    instrument_id: str
    side: Side
    quantity: float
    order_type: OrderType = "LIMIT"
    price: float | None = None
    """The limit; for ``MARKET`` at a venue without market orders (Gemini), the protective
    limit of the immediate-or-cancel order that stands for it."""
    time_in_force: TimeInForce = "GTC"
    post_only: bool = False
    strategy_id: str = "EXTERNAL"
    operation_id: str | None = None
    decision_price: float | None = None


class ExternalOrder(msgspec.Struct, **_STRUCT):
    """An order as the venue reports it."""

    venue_order_id: str
    client_order_id: str | None
    """None for an order placed outside the desk (the venue's web page)."""
    instrument_id: str
    side: Side
    order_type: OrderType
    quantity: float
    price: float | None
    filled_qty: float
    avg_px: float | None
    status: str
    """ACCEPTED, PARTIALLY_FILLED, FILLED, CANCELED or REJECTED (Nautilus's names)."""
    ts_event: int
    """When the venue last changed it, as far as it says (ns); its creation time otherwise."""
    reason: str | None = None


class ExternalFill(msgspec.Struct, **_STRUCT):
    """One execution of one of the account's orders."""

    trade_id: str
    venue_order_id: str
    client_order_id: str | None
    instrument_id: str
    side: Side
    quantity: float
    price: float
    commission: float
    commission_currency: str
    liquidity_side: Literal["MAKER", "TAKER", "NO_LIQUIDITY_SIDE"]
    ts_event: int


class ExternalPosition(msgspec.Struct, **_STRUCT):
    """A position the venue holds for the account (derivatives; spot holdings are balances)."""

    instrument_id: str
    signed_qty: float
    avg_px_open: float
    last_px: float
    """The venue's mark price."""
    realized_pnl: float
    unrealized_pnl: float
    currency: str
    ts_event: int


class ExternalBalance(msgspec.Struct, **_STRUCT):
    """One currency of the account."""

    currency: str
    total: float
    free: float
    locked: float
    ts_event: int


class PublicTrade(msgspec.Struct, **_STRUCT):
    """One trade of the venue's public tape (anyone's), for the router's recent volume."""

    trade_id: str
    price: float
    quantity: float
    ts_event: int


class ExternalMarket(msgspec.Struct, **_STRUCT):
    """What the venue's public market data says of one instrument now: the router prices the
    venue by it (last price, the touch and its sizes, the trades since the last read)."""

    instrument_id: str
    last: float | None
    bid: float | None
    ask: float | None
    bid_size: float | None
    ask_size: float | None
    trades: tuple[PublicTrade, ...]
    """Trades at or after the ``since_ns`` asked for, oldest first."""
    ts_event: int


class ExternalVenueAdapter(abc.ABC):
    """One venue's protocol behind the calls the desk needs; see the module docstring.

    Parameters
    ----------
    config : ExternalVenueConfig
        The venue's ``[[external_venues]]`` entry.
    credentials : Credentials
        From the environment variables the entry names.
    """

    account_type: Literal["CASH", "MARGIN"] = "CASH"
    """How the OMS labels the account's balances."""

    def __init__(self, config: ExternalVenueConfig, credentials: Credentials) -> None:
        self.config = config
        self.credentials = credentials

    @property
    def name(self) -> str:
        """The venue's name: the suffix of its instrument ids, the prefix of its account."""
        return self.config.name

    @property
    def account_id(self) -> str:
        """The OMS account id of this venue's balances, positions and fills."""
        return f"{self.config.name}-{self.config.account or 'API'}"

    def instrument_id(self, symbol: str) -> str:
        """The desk's id of the venue's ``symbol``."""
        return f"{symbol.upper()}.{self.config.name}"

    def symbol(self, instrument_id: str) -> str:
        """The venue's symbol of the desk's ``instrument_id`` (the part before the venue)."""
        return instrument_id.rpartition(".")[0] or instrument_id

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the session and check the credentials with one private call."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the session (idempotent)."""

    @abc.abstractmethod
    async def instruments(self) -> list[ExternalInstrument]:
        """The configured instruments (every one when none is configured)."""

    @abc.abstractmethod
    async def submit(self, request: OrderRequest) -> ExternalOrder:
        """Place ``request``; raises ``VenueRejected`` when the venue refuses it. Not retried:
        after ``VenueUnavailable`` the order may or may not be at the venue (``order_status``
        by its client id settles it)."""

    @abc.abstractmethod
    async def cancel(self, venue_order_id: str) -> ExternalOrder:
        """Cancel one order; returns it as it stands after the cancel."""

    @abc.abstractmethod
    async def open_orders(self) -> list[ExternalOrder]:
        """Every order live at the venue for the account."""

    @abc.abstractmethod
    async def order_status(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> ExternalOrder | None:
        """One order, open or closed, from the venue's history; None when the venue has none."""

    @abc.abstractmethod
    async def fills(self, since_ns: int) -> list[ExternalFill]:
        """The account's executions at or after ``since_ns``, oldest first."""

    @abc.abstractmethod
    async def positions(self) -> list[ExternalPosition]:
        """The account's open positions."""

    @abc.abstractmethod
    async def balances(self) -> list[ExternalBalance]:
        """The account's balances, one per currency."""

    @abc.abstractmethod
    async def market(self, instrument_id: str, since_ns: int) -> ExternalMarket:
        """Public market data of one instrument: last price, the touch, trades since
        ``since_ns`` (no credentials needed; the router weighs the venue by it)."""
