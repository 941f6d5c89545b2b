"""A local Gemini REST server on 127.0.0.1, for the external-venue tests.

It speaks the calls ``core.execution.external.gemini`` makes, as Gemini documents them:

- auth: https://developer.gemini.com/authentication/api-key (``X-GEMINI-APIKEY``,
  ``X-GEMINI-PAYLOAD`` = base64 JSON with ``request`` and an increasing ``nonce``,
  ``X-GEMINI-SIGNATURE`` = hex HMAC-SHA384 of the payload with the secret);
- errors: https://developer.gemini.com/error-codes (``{"result": "error", "reason",
  "message"}``; 400, 404 order not found, 406 insufficient funds, 429, 5xx);
- orders: https://developer.gemini.com/rest-api/trading/orders/create-new-order
  (``exchange limit`` only; ``immediate-or-cancel``, ``fill-or-kill``, ``maker-or-cancel``),
  ``/v1/order/cancel``, ``/v1/order/status``, ``/v1/orders``;
- trades: https://developer.gemini.com/trading/rest-api/orders/list-past-trades;
- balances: https://developer.gemini.com/trading/rest-api/fund-management/get-available-balances;
- positions: https://developer.gemini.com/rest-api/trading/derivatives/get-open-positions;
- symbols: https://developer.gemini.com/trading/rest-api/market-data/get-symbol-details;
- public market data (https://developer.gemini.com/rest-api/market-data): ``GET
  /v1/pubticker/{symbol}`` (``bid``, ``ask``, ``last``, ``volume``), ``GET /v1/book/{symbol}``
  (``bids``/``asks`` of ``{price, amount, timestamp}``, ``limit_bids``/``limit_asks``), ``GET
  /v1/trades/{symbol}`` (``timestamp`` in s or ms, ``limit_trades`` <= 500, newest first).

The signature is checked independently of the adapter's code (a shared bug would pass
otherwise). State is in memory: a market price per symbol (``set_price``) against which orders
fill at once when marketable (taker); resting orders fill when a test says (``fill``, maker).
``fail_next`` makes the next requests answer an HTTP error (5xx, 429) or hang past the client's
timeout.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TAKER_FEE = 0.004
MAKER_FEE = 0.002
SYMBOLS = {
    "btcusd": ("BTC", "USD", "spot"),
    "ethusd": ("ETH", "USD", "spot"),
    "btcusdt": ("BTC", "USDT", "spot"),
    "btcgusdperp": ("BTC", "GUSD", "swap"),
}


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@dataclass
class _Order:
    order_id: int
    client_order_id: str | None
    symbol: str
    side: str
    amount: float
    price: float
    options: list[str]
    timestampms: int
    executed: float = 0.0
    notional: float = 0.0
    cancelled: bool = False
    reason: str | None = None

    @property
    def live(self) -> bool:
        return not self.cancelled and self.executed < self.amount

    def json(self) -> dict[str, Any]:
        avg = self.notional / self.executed if self.executed else 0.0
        row = {
            "order_id": str(self.order_id),
            "id": str(self.order_id),
            "symbol": self.symbol,
            "exchange": "gemini",
            "avg_execution_price": f"{avg:.2f}",
            "side": self.side,
            "type": "exchange limit",
            "timestamp": str(self.timestampms // 1000),
            "timestampms": self.timestampms,
            "is_live": self.live,
            "is_cancelled": self.cancelled,
            "is_hidden": False,
            "was_forced": False,
            "executed_amount": _num(self.executed),
            "remaining_amount": _num(self.amount - self.executed),
            "original_amount": _num(self.amount),
            "price": _num(self.price),
            "options": self.options,
        }
        if self.client_order_id is not None:
            row["client_order_id"] = self.client_order_id
        if self.reason is not None:
            row["reason"] = self.reason
        return row


@dataclass
class _Position:
    quantity: float = 0.0
    average_cost: float = 0.0
    realised_pnl: float = 0.0


@dataclass
class GeminiServer:
    """The server's state and controls; ``await start()`` / ``await stop()``."""

    api_key: str = "account-test-key"
    api_secret: str = "test-secret"
    balances: dict[str, float] = field(
        default_factory=lambda: {"USD": 100_000.0, "USDT": 100_000.0, "BTC": 1.0, "GUSD": 50_000.0}
    )
    prices: dict[str, float] = field(
        default_factory=lambda: {
            "btcusd": 50_000.0,
            "btcusdt": 50_000.0,
            "ethusd": 3_000.0,
            "btcgusdperp": 50_000.0,
        }
    )
    orders: dict[int, _Order] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, _Position] = field(default_factory=dict)
    book_size: float = 2.0
    """Size shown at the best bid and at the best ask (``/v1/book``), each symbol."""
    spread_bps: float = 2.0
    """Best bid and ask sit this far apart around the market price."""
    tape: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Public trades per symbol (anyone's, the desk's included), oldest first."""
    requests: list[str] = field(default_factory=list)
    """Paths requested, in order (the tests count calls and retries)."""
    on_new_order: Callable[[dict[str, Any]], None] | None = None
    """Called with each authenticated ``/v1/order/new`` payload, before the order is placed."""
    hang_secs: float = 1.5
    _failures: list[tuple[int, str]] = field(default_factory=list)
    _nonce: int = 0
    _next_id: int = 7_000_000_000
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v1/symbols", self._symbols)
        app.router.add_get("/v1/symbols/details/{symbol}", self._details)
        app.router.add_get("/v1/pubticker/{symbol}", self._pubticker)
        app.router.add_get("/v1/book/{symbol}", self._book)
        app.router.add_get("/v1/trades/{symbol}", self._public_trades)
        app.router.add_post("/v1/{tail:.*}", self._private)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)  # a free port
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test controls ------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 503, how: str = "error") -> None:
        """The next ``count`` requests fail: ``error`` answers ``status`` at once, ``hang``
        answers it after ``hang_secs`` (past the client's timeout), ``lose`` does the request
        but answers only after ``hang_secs`` (the client never hears it was done)."""
        self._failures += [(status, how)] * count

    def set_price(self, symbol: str, price: float) -> None:
        self.prices[symbol] = price

    def trade_public(self, symbol: str, amount: float, price: float | None = None) -> None:
        """Someone else trades ``amount`` on the public tape (at the market price)."""
        self._print(symbol, amount, self.prices[symbol] if price is None else price, "buy")

    def _print(self, symbol: str, amount: float, price: float, side: str) -> None:
        tape = self.tape.setdefault(symbol, [])
        now = time.time_ns() // 1_000_000
        tape.append(
            {
                "timestamp": now // 1000,
                "timestampms": now,
                "tid": 100_000 + sum(len(t) for t in self.tape.values()),
                "price": _num(price),
                "amount": _num(amount),
                "exchange": "gemini",
                "type": side,
            }
        )

    def place_from_web(self, **payload: Any) -> dict[str, Any]:
        """An order placed on the venue's web page (no API session): as ``/v1/order/new``."""
        return self._new_order({"type": "exchange limit", **payload})

    def fill(self, order_id: int | str, amount: float | None = None) -> None:
        """A resting order trades (as maker) at its limit price, wholly or ``amount`` of it."""
        order = self.orders[int(order_id)]
        assert order.live, f"order {order_id} is not live"
        self._execute(order, amount or order.amount - order.executed, order.price, taker=False)

    # -- handlers -----------------------------------------------------------------------------

    async def _symbols(self, request: web.Request) -> web.Response:
        return web.json_response(sorted(SYMBOLS))

    async def _details(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"].lower()
        if symbol not in SYMBOLS:
            return _error(400, "InvalidSymbol", f"Supplied value '{symbol}' is not a valid symbol")
        base, quote, product = SYMBOLS[symbol]
        return web.json_response(
            {
                "symbol": symbol.upper(),
                "base_currency": base,
                "quote_currency": quote,
                "tick_size": 1e-8,
                "quote_increment": 0.01,
                "min_order_size": "0.00001",
                "status": "open",
                "wrap_enabled": False,
                "product_type": product,
                "contract_type": "linear" if product == "swap" else "vanilla",
                "contract_price_currency": quote,
            }
        )

    def _symbol(self, request: web.Request) -> str | None:
        self.requests.append(request.path)
        symbol = request.match_info["symbol"].lower()
        return symbol if symbol in SYMBOLS else None

    async def _pubticker(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        if symbol is None:
            return _error(400, "InvalidSymbol", "Supplied value is not a valid symbol")
        price, half = self.prices[symbol], self.prices[symbol] * self.spread_bps / 20_000
        tape = self.tape.get(symbol) or []
        last = float(tape[-1]["price"]) if tape else price
        return web.json_response(
            {
                "bid": _num(price - half),
                "ask": _num(price + half),
                "last": _num(last),
                "volume": {"timestamp": time.time_ns() // 1_000_000},
            }
        )

    async def _book(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        if symbol is None:
            return _error(400, "InvalidSymbol", "Supplied value is not a valid symbol")
        price, half = self.prices[symbol], self.prices[symbol] * self.spread_bps / 20_000
        now = str(time.time_ns() // 1_000_000_000)
        bids = int(request.query.get("limit_bids", 50))
        asks = int(request.query.get("limit_asks", 50))
        level = {"amount": _num(self.book_size), "timestamp": now}
        return web.json_response(
            {
                "bids": [{**level, "price": _num(price - half)}][:bids],
                "asks": [{**level, "price": _num(price + half)}][:asks],
            }
        )

    async def _public_trades(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        if symbol is None:
            return _error(400, "InvalidSymbol", "Supplied value is not a valid symbol")
        since = int(request.query.get("timestamp", 0))
        since_ms = since * 1000 if since < 10**11 else since
        limit = min(int(request.query.get("limit_trades", 50)), 500)
        rows = [t for t in self.tape.get(symbol, []) if t["timestampms"] >= since_ms]
        return web.json_response(list(reversed(rows))[:limit])

    async def _private(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        how = ""
        if self._failures:
            status, how = self._failures.pop(0)
            if how == "hang":
                await asyncio.sleep(self.hang_secs)
            if how != "lose":
                if status == 429:
                    return _error(429, "RateLimit", "Requests were made too frequently")
                return _error(status, "Maintenance", "The system is down for maintenance")
        try:
            payload = self._authenticate(request)
            handler = _ROUTES.get(request.path)
            if handler is None:
                raise _Refused(
                    404, "EndpointNotFound", f"API entry point `{request.path}` not found"
                )
            response = web.json_response(handler(self, payload))
        except _Refused as refused:
            response = _error(refused.status, refused.reason, refused.message)
        if how == "lose":  # done, but the answer comes too late for the client
            await asyncio.sleep(self.hang_secs)
        return response

    def _authenticate(self, request: web.Request) -> dict[str, Any]:
        headers = request.headers
        for name, reason in (
            ("X-GEMINI-APIKEY", "MissingApikeyHeader"),
            ("X-GEMINI-PAYLOAD", "MissingPayloadHeader"),
            ("X-GEMINI-SIGNATURE", "MissingSignatureHeader"),
        ):
            if not headers.get(name):
                raise _Refused(400, reason, f"The {name} header was missing")
        if headers["X-GEMINI-APIKEY"] != self.api_key:
            raise _Refused(400, "InvalidApiKey", "The API key is invalid")
        encoded = headers["X-GEMINI-PAYLOAD"]
        expected = hmac.new(self.api_secret.encode(), encoded.encode(), hashlib.sha384).hexdigest()
        if not hmac.compare_digest(expected, headers["X-GEMINI-SIGNATURE"]):
            raise _Refused(400, "InvalidSignature", "InvalidSignature")
        payload = json.loads(base64.b64decode(encoded))
        if payload.get("request") != request.path:
            raise _Refused(400, "EndpointMismatch", "EndpointMismatch")
        nonce = payload.get("nonce")
        if nonce is None:
            raise _Refused(400, "MissingNonce", "The nonce was missing")
        if int(nonce) <= self._nonce:
            raise _Refused(
                400, "InvalidNonce", f"Nonce '{nonce}' has not increased since your last call"
            )
        self._nonce = int(nonce)
        return payload

    # -- endpoints ----------------------------------------------------------------------------

    def _new_order(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.on_new_order is not None:
            self.on_new_order(p)
        symbol = str(p.get("symbol", "")).lower()
        if symbol not in SYMBOLS:
            raise _Refused(400, "InvalidSymbol", f"Supplied value '{symbol}' is not a valid symbol")
        if p.get("type") != "exchange limit":
            raise _Refused(400, "InvalidOrderType", f"Invalid order type '{p.get('type')}'")
        if p.get("side") not in ("buy", "sell"):
            raise _Refused(400, "InvalidSide", f"Invalid side '{p.get('side')}'")
        amount, price = (
            _positive(p, "amount", "InvalidQuantity"),
            _positive(p, "price", "InvalidPrice"),
        )
        options = list(p.get("options") or [])
        if len(options) > 1:
            raise _Refused(400, "ConflictingOptions", "A single order supports one option")
        if options and options[0] not in ("immediate-or-cancel", "fill-or-kill", "maker-or-cancel"):
            raise _Refused(400, "UnsupportedOption", f"Option '{options[0]}' is not supported")
        base, quote, product = SYMBOLS[symbol]
        if product == "spot":
            need, currency = (
                (amount * price * (1 + TAKER_FEE), quote) if p["side"] == "buy" else (amount, base)
            )
            if self._available(currency) < need:
                raise _Refused(406, "InsufficientFunds", f"Insufficient {currency} to place order")
        self._next_id += 1
        order = _Order(
            order_id=self._next_id,
            client_order_id=p.get("client_order_id"),
            symbol=symbol,
            side=p["side"],
            amount=amount,
            price=price,
            options=options,
            timestampms=time.time_ns() // 1_000_000,
        )
        self.orders[order.order_id] = order
        market = self.prices[symbol]
        marketable = market <= price if order.side == "buy" else market >= price
        option = options[0] if options else None
        if marketable and option == "maker-or-cancel":
            order.cancelled, order.reason = True, "MakerOrCancelWouldTake"
        elif marketable:
            self._execute(order, amount, market, taker=True)
        elif option in ("immediate-or-cancel", "fill-or-kill"):
            order.cancelled, order.reason = True, "ImmediateOrCancelWouldPost"
        return order.json()

    def _cancel(self, p: dict[str, Any]) -> dict[str, Any]:
        order = self._find(p)
        if order.live:
            order.cancelled, order.reason = True, "Requested"
        return order.json()

    def _status(self, p: dict[str, Any]) -> Any:
        if "client_order_id" in p:
            found = [
                o.json() for o in self.orders.values() if o.client_order_id == p["client_order_id"]
            ]
            if not found:
                raise _Refused(404, "OrderNotFound", f"Order {p['client_order_id']} not found")
            return found
        return self._find(p).json()

    def _open(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [o.json() for o in self.orders.values() if o.live]

    def _my_trades(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        since = int(p.get("timestamp", 0))
        since_ms = since * 1000 if since < 10**11 else since  # seconds or milliseconds
        limit = min(int(p.get("limit_trades", 50)), 500)
        symbol = p.get("symbol")
        rows = [
            t
            for t in self.trades
            if t["timestampms"] >= since_ms and (symbol is None or t["symbol"] == symbol.lower())
        ]
        rows.sort(key=lambda t: (t["timestampms"], t["tid"]), reverse=True)
        return rows[:limit]

    def _balances(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "type": "exchange",
                "currency": currency,
                "amount": _num(total),
                "available": _num(self._available(currency)),
                "availableForWithdrawal": _num(self._available(currency)),
            }
            for currency, total in sorted(self.balances.items())
        ]

    def _positions(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        for symbol, position in sorted(self.positions.items()):
            if position.quantity == 0:
                continue
            mark = self.prices[symbol]
            rows.append(
                {
                    "symbol": symbol,
                    "instrument_type": "perp",
                    "quantity": _num(position.quantity),
                    "notional_value": _num(position.quantity * mark),
                    "realised_pnl": _num(position.realised_pnl),
                    "unrealised_pnl": _num((mark - position.average_cost) * position.quantity),
                    "mark_price": _num(mark),
                    "average_cost": _num(position.average_cost),
                }
            )
        return rows

    # -- matching -----------------------------------------------------------------------------

    def _find(self, p: dict[str, Any]) -> _Order:
        order = self.orders.get(int(p.get("order_id", 0)))
        if order is None:
            raise _Refused(404, "OrderNotFound", f"Order {p.get('order_id')} not found")
        return order

    def _available(self, currency: str) -> float:
        held = 0.0
        for order in self.orders.values():
            base, quote, product = SYMBOLS[order.symbol]
            if not order.live or product != "spot":
                continue
            left = order.amount - order.executed
            if order.side == "buy" and quote == currency:
                held += left * order.price * (1 + TAKER_FEE)
            elif order.side == "sell" and base == currency:
                held += left
        return self.balances.get(currency, 0.0) - held

    def _execute(self, order: _Order, amount: float, price: float, *, taker: bool) -> None:
        base, quote, product = SYMBOLS[order.symbol]
        fee = amount * price * (TAKER_FEE if taker else MAKER_FEE)
        order.executed += amount
        order.notional += amount * price
        sign = 1.0 if order.side == "buy" else -1.0
        if product == "spot":
            self.balances[base] = self.balances.get(base, 0.0) + sign * amount
            self.balances[quote] = self.balances.get(quote, 0.0) - sign * amount * price - fee
        else:
            self._move_position(order.symbol, sign * amount, price)
            self.balances[quote] = self.balances.get(quote, 0.0) - fee
        now = time.time_ns() // 1_000_000
        trade = {
            "price": _num(price),
            "amount": _num(amount),
            "timestamp": now // 1000,
            "timestampms": now,
            "type": "Buy" if order.side == "buy" else "Sell",
            "aggressor": taker,
            "fee_currency": quote,
            "fee_amount": _num(fee),
            "tid": 900_000 + len(self.trades),
            "order_id": str(order.order_id),
            "exchange": "gemini",
            "is_auction_fill": False,
            "symbol": order.symbol,
        }
        if order.client_order_id is not None:
            trade["client_order_id"] = order.client_order_id
        self.trades.append(trade)
        self._print(order.symbol, amount, price, order.side)

    def _move_position(self, symbol: str, signed: float, price: float) -> None:
        position = self.positions.setdefault(symbol, _Position())
        old = position.quantity
        new = old + signed
        if old == 0 or (old > 0) == (signed > 0):  # opening or adding
            position.average_cost = (old * position.average_cost + signed * price) / new
        else:  # reducing, closing or flipping
            closed = min(abs(signed), abs(old))
            position.realised_pnl += (
                closed * (price - position.average_cost) * (1 if old > 0 else -1)
            )
            if new != 0 and (new > 0) != (old > 0):
                position.average_cost = price
        position.quantity = new


_ROUTES = {
    "/v1/order/new": GeminiServer._new_order,
    "/v1/order/cancel": GeminiServer._cancel,
    "/v1/order/status": GeminiServer._status,
    "/v1/orders": GeminiServer._open,
    "/v1/mytrades": GeminiServer._my_trades,
    "/v1/balances": GeminiServer._balances,
    "/v1/positions": GeminiServer._positions,
}


@asynccontextmanager
async def serving(**fields: Any) -> AsyncIterator[GeminiServer]:
    """A started server (``fields`` as ``GeminiServer``'s), stopped on the way out."""
    gemini = GeminiServer(**fields)
    await gemini.start()
    try:
        yield gemini
    finally:
        await gemini.stop()


def _positive(p: dict[str, Any], name: str, reason: str) -> float:
    try:
        value = float(p[name])
    except (KeyError, TypeError, ValueError):
        raise _Refused(400, reason, f"Invalid {name} '{p.get(name)}'") from None
    if value <= 0:
        raise _Refused(400, reason, f"Invalid {name} '{p.get(name)}'")
    return value


def _num(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".") or "0"


def _error(status: int, reason: str, message: str) -> web.Response:
    return web.json_response(
        {"result": "error", "reason": reason, "message": message}, status=status
    )
