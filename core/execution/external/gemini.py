"""The reference adapter: Gemini's REST API v1 (``kind = "gemini"``), a venue Nautilus lacks.

Protocol, as documented by Gemini (developer.gemini.com):

- Private calls (https://developer.gemini.com/authentication/api-key): ``POST`` to the path,
  no body; the JSON payload ``{"request": path, "nonce": n, ...params}`` travels base64-encoded
  in ``X-GEMINI-PAYLOAD``, signed by ``X-GEMINI-SIGNATURE`` = hex HMAC-SHA384 of that base64
  text with the API secret, the key in ``X-GEMINI-APIKEY``; ``Content-Type: text/plain``,
  ``Content-Length: 0``, ``Cache-Control: no-cache``. The nonce must increase per key, so
  requests of one adapter are sent one at a time.
- Errors (https://developer.gemini.com/error-codes): a non-200 status and
  ``{"result": "error", "reason": ..., "message": ...}``; 400 bad request or auth headers,
  403 missing role, 404 order not found, 406 insufficient funds, 429 rate limit, 5xx down.
- Orders (https://developer.gemini.com/rest-api/trading/orders/create-new-order):
  ``/v1/order/new`` takes ``exchange limit`` orders only; a market order is an
  ``immediate-or-cancel`` limit at a protective price. ``/v1/order/cancel``,
  ``/v1/order/status`` (by ``order_id`` or ``client_order_id``), ``/v1/orders`` (live ones).
- ``/v1/mytrades`` (https://developer.gemini.com/trading/rest-api/orders/list-past-trades):
  trades at or after ``timestamp``, newest first, ``limit_trades`` at most 500.
- ``/v1/balances`` (https://developer.gemini.com/trading/rest-api/fund-management/get-available-balances),
  ``/v1/positions`` (https://developer.gemini.com/rest-api/trading/derivatives/get-open-positions),
  ``GET /v1/symbols`` and ``/v1/symbols/details/{symbol}``
  (https://developer.gemini.com/trading/rest-api/market-data/get-symbol-details).
- Public market data, no key (https://developer.gemini.com/rest-api/market-data):
  ``GET /v1/pubticker/{symbol}`` (bid, ask, last), ``GET /v1/book/{symbol}`` with
  ``limit_bids``/``limit_asks`` (each level's ``price`` and ``amount``), ``GET /v1/trades/{symbol}``
  with ``timestamp`` (trades at or after it, newest first, ``limit_trades`` at most 500).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp

from core.config import ExternalVenueConfig
from core.execution.external.adapter import (
    Credentials,
    ExternalBalance,
    ExternalFill,
    ExternalInstrument,
    ExternalMarket,
    ExternalOrder,
    ExternalPosition,
    ExternalVenueAdapter,
    OrderRequest,
    PublicTrade,
)
from core.execution.external.errors import (
    VenueAuthError,
    VenueError,
    VenueNotFound,
    VenueRejected,
    VenueUnavailable,
)

_AUTH_REASONS = frozenset(
    {
        "InvalidSignature",
        "InvalidApiKey",
        "InvalidNonce",
        "MissingApikeyHeader",
        "MissingPayloadHeader",
        "MissingSignatureHeader",
        "MissingRole",
        "MissingNonce",
        "EndpointMismatch",
    }
)
_OPTIONS = {"IOC": "immediate-or-cancel", "FOK": "fill-or-kill"}
_PAGE = 500
_MS = 1_000_000


def sign(payload: dict[str, Any], secret: str) -> tuple[str, str]:
    """Gemini's signing: the base64 of the JSON payload, and its hex HMAC-SHA384."""
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    signature = hmac.new(secret.encode(), encoded.encode(), hashlib.sha384).hexdigest()
    return encoded, signature


class GeminiAdapter(ExternalVenueAdapter):
    """Gemini spot and perpetuals through REST; see the module docstring."""

    account_type = "MARGIN"  # perpetual positions share the account with spot balances

    def __init__(self, config: ExternalVenueConfig, credentials: Credentials) -> None:
        super().__init__(config, credentials)
        self._session: aiohttp.ClientSession | None = None
        self._nonce = 0
        self._lock = asyncio.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_secs)
            self._session = aiohttp.ClientSession(timeout=timeout)
        await self.balances()  # a wrong key or secret is reported now, not at the first order

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- calls --------------------------------------------------------------------------------

    async def instruments(self) -> list[ExternalInstrument]:
        symbols = list(self.config.instruments) or await self._get("/v1/symbols")
        details = [await self._get(f"/v1/symbols/details/{s.lower()}") for s in symbols]
        return [self._instrument(d) for d in details]

    async def submit(self, request: OrderRequest) -> ExternalOrder:
        if request.price is None:
            raise VenueRejected(
                self.name,
                f"{request.client_order_id}: Gemini takes limit orders only; a {request.order_type}"
                " order needs a protective price",
                reason="InvalidPrice",
            )
        tif = "IOC" if request.order_type == "MARKET" else request.time_in_force
        options = ["maker-or-cancel"] if request.post_only else []
        if tif in _OPTIONS:
            options = [_OPTIONS[tif]]
        params = {
            "client_order_id": request.client_order_id,
            "symbol": self.symbol(request.instrument_id).lower(),
            "amount": _decimal(request.quantity),
            "price": _decimal(request.price),
            "side": request.side.lower(),
            "type": "exchange limit",
            "options": options,
        }
        # Not retried: a timeout may hide an order that reached the book.
        return self._order(await self._private("/v1/order/new", params, retries=0))

    async def cancel(self, venue_order_id: str) -> ExternalOrder:
        params = {"order_id": int(venue_order_id)}
        return self._order(await self._private("/v1/order/cancel", params, retries=0))

    async def open_orders(self) -> list[ExternalOrder]:
        return [self._order(o) for o in await self._private("/v1/orders")]

    async def order_status(
        self, *, venue_order_id: str | None = None, client_order_id: str | None = None
    ) -> ExternalOrder | None:
        if venue_order_id is not None:
            params: dict[str, Any] = {"order_id": int(venue_order_id)}
        elif client_order_id is not None:
            params = {"client_order_id": client_order_id}
        else:
            raise ValueError("order_status needs venue_order_id or client_order_id")
        try:
            answer = await self._private("/v1/order/status", params)
        except VenueNotFound:
            return None
        if isinstance(answer, list):  # by client_order_id Gemini lists every match
            return self._order(answer[-1]) if answer else None
        return self._order(answer)

    async def fills(self, since_ns: int) -> list[ExternalFill]:
        symbols: list[str | None] = [s.lower() for s in self.config.instruments] or [None]
        fills: dict[str, ExternalFill] = {}
        for symbol in symbols:
            since_ms = since_ns // _MS
            while True:
                params: dict[str, Any] = {"timestamp": since_ms, "limit_trades": _PAGE}
                if symbol is not None:
                    params["symbol"] = symbol
                page = await self._private("/v1/mytrades", params)
                before = len(fills)
                for trade in page:
                    fill = self._fill(trade, symbol)
                    fills[fill.trade_id] = fill
                if len(page) < _PAGE or len(fills) == before:
                    break
                # Inclusive: trades of the page's last millisecond beyond the page come next.
                since_ms = max(int(t["timestampms"]) for t in page)
        return sorted(fills.values(), key=lambda f: (f.ts_event, f.trade_id))

    async def positions(self) -> list[ExternalPosition]:
        configured = [symbol.lower() for symbol in self.config.instruments]
        if configured and not any(symbol.endswith("perp") for symbol in configured):
            return []  # spot only: holdings are balances, and the account may lack derivatives
        answer = await self._private("/v1/positions")
        rows = answer.get("openPositions", []) if isinstance(answer, dict) else answer
        now = time.time_ns()
        return [
            ExternalPosition(
                instrument_id=self.instrument_id(row["symbol"]),
                signed_qty=float(row["quantity"]),
                avg_px_open=float(row.get("average_cost") or 0.0),
                last_px=float(row.get("mark_price") or 0.0),
                realized_pnl=float(row.get("realised_pnl") or 0.0),
                unrealized_pnl=float(row.get("unrealised_pnl") or 0.0),
                currency=row.get("currency", "GUSD"),
                ts_event=now,
            )
            for row in rows
            if float(row["quantity"]) != 0
        ]

    async def balances(self) -> list[ExternalBalance]:
        now = time.time_ns()
        balances = []
        for row in await self._private("/v1/balances"):
            total, free = float(row["amount"]), float(row["available"])
            balances.append(
                ExternalBalance(
                    currency=row["currency"].upper(),
                    total=total,
                    free=free,
                    locked=max(total - free, 0.0),
                    ts_event=now,
                )
            )
        return balances

    async def market(self, instrument_id: str, since_ns: int) -> ExternalMarket:
        symbol = self.symbol(instrument_id).lower()
        since_ms = since_ns // _MS
        ticker, book, trades = await asyncio.gather(  # public: no nonce, so no queue
            self._get(f"/v1/pubticker/{symbol}"),
            self._get(f"/v1/book/{symbol}?limit_bids=1&limit_asks=1"),
            self._get(f"/v1/trades/{symbol}?timestamp={since_ms}&limit_trades={_PAGE}"),
        )
        bids, asks = book.get("bids") or [], book.get("asks") or []
        return ExternalMarket(
            instrument_id=instrument_id,
            last=_number(ticker.get("last")),
            bid=_number(ticker.get("bid")),
            ask=_number(ticker.get("ask")),
            bid_size=float(bids[0]["amount"]) if bids else None,
            ask_size=float(asks[0]["amount"]) if asks else None,
            trades=tuple(
                sorted(
                    (
                        PublicTrade(
                            trade_id=str(t["tid"]),
                            price=float(t["price"]),
                            quantity=float(t["amount"]),
                            ts_event=int(t["timestampms"]) * _MS,
                        )
                        for t in trades
                        if int(t["timestampms"]) >= since_ms
                    ),
                    key=lambda t: (t.ts_event, t.trade_id),
                )
            ),
            ts_event=time.time_ns(),
        )

    # -- protocol -----------------------------------------------------------------------------

    def _instrument(self, details: dict[str, Any]) -> ExternalInstrument:
        symbol = details["symbol"].lower()
        return ExternalInstrument(
            instrument_id=self.instrument_id(symbol),
            symbol=symbol,
            base=details["base_currency"],
            quote=details["quote_currency"],
            price_increment=float(details["quote_increment"]),
            size_increment=float(details["tick_size"]),
            min_quantity=float(details["min_order_size"]),
            kind="perp" if details.get("product_type") == "swap" else "spot",
            status=details.get("status", "open"),
        )

    def _order(self, row: dict[str, Any]) -> ExternalOrder:
        filled = float(row.get("executed_amount") or 0.0)
        quantity = float(row["original_amount"])
        if row.get("is_cancelled"):
            status = "CANCELED"
        elif row.get("is_live"):
            status = "PARTIALLY_FILLED" if filled > 0 else "ACCEPTED"
        else:
            status = "FILLED" if filled >= quantity else "CANCELED"
        avg = float(row.get("avg_execution_price") or 0.0)
        price = row.get("price")
        return ExternalOrder(
            venue_order_id=str(row["order_id"]),
            client_order_id=row.get("client_order_id") or None,
            instrument_id=self.instrument_id(row["symbol"]),
            side="BUY" if row["side"] == "buy" else "SELL",
            order_type="LIMIT",
            quantity=quantity,
            price=None if price is None else float(price),
            filled_qty=filled,
            avg_px=avg if filled > 0 else None,
            status=status,
            ts_event=int(row["timestampms"]) * _MS,
            reason=row.get("reason"),
        )

    def _fill(self, trade: dict[str, Any], symbol: str | None) -> ExternalFill:
        return ExternalFill(
            trade_id=str(trade["tid"]),
            venue_order_id=str(trade["order_id"]),
            client_order_id=trade.get("client_order_id") or None,
            instrument_id=self.instrument_id(trade.get("symbol") or symbol or ""),
            side="BUY" if trade["type"].lower() == "buy" else "SELL",
            quantity=float(trade["amount"]),
            price=float(trade["price"]),
            commission=float(trade.get("fee_amount") or 0.0),
            commission_currency=str(trade.get("fee_currency") or ""),
            liquidity_side="TAKER" if trade.get("aggressor") else "MAKER",
            ts_event=int(trade["timestampms"]) * _MS,
        )

    async def _get(self, path: str) -> Any:
        return await self._call("GET", path, {}, self.config.max_retries)

    async def _private(
        self, path: str, params: dict[str, Any] | None = None, *, retries: int | None = None
    ) -> Any:
        payload = dict(params or {})
        if self.config.account:
            payload["account"] = self.config.account
        return await self._call(
            "POST", path, payload, self.config.max_retries if retries is None else retries
        )

    async def _call(self, method: str, path: str, params: dict[str, Any], retries: int) -> Any:
        delay = self.config.retry_backoff_secs
        for attempt in range(retries + 1):
            try:
                return await self._send(method, path, params)
            except VenueUnavailable:
                if attempt == retries:
                    raise
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def _send(self, method: str, path: str, params: dict[str, Any]) -> Any:
        session = self._session
        if session is None:
            raise VenueUnavailable(self.name, f"not connected ({path})")
        url = self.config.base_url.rstrip("/") + path
        # Private requests one at a time (each nonce must exceed the last, in arrival order);
        # public ones carry no nonce and need not queue behind them.
        async with self._lock if method == "POST" else contextlib.nullcontext():
            headers = {}
            if method == "POST":
                self._nonce = max(self._nonce + 1, time.time_ns() // _MS)
                payload = {"request": path, "nonce": self._nonce, **params}
                encoded, signature = sign(payload, self.credentials.api_secret)
                headers = {
                    "Content-Type": "text/plain",
                    "Content-Length": "0",
                    "Cache-Control": "no-cache",
                    "X-GEMINI-APIKEY": self.credentials.api_key,
                    "X-GEMINI-PAYLOAD": encoded,
                    "X-GEMINI-SIGNATURE": signature,
                }
            try:
                async with session.request(method, url, headers=headers) as response:
                    text = await response.text()
                    status = response.status
            except TimeoutError:
                raise VenueUnavailable(
                    self.name,
                    f"no answer within {self.config.request_timeout_secs:g} s ({path})",
                ) from None
            except aiohttp.ClientError as error:
                raise VenueUnavailable(self.name, f"cannot reach {url}: {error}") from None
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        if status == 200 and body is not None:
            return body
        raise self._error(status, body, path)

    def _error(self, status: int, body: Any, path: str) -> VenueError:
        reason = message = ""
        if isinstance(body, dict) and body.get("result") == "error":
            reason, message = str(body.get("reason", "")), str(body.get("message", ""))
        problem = f"{reason or 'HTTP error'}: {message or 'no message'} (HTTP {status}, {path})"
        problem = " ".join(problem.split())
        if status == 429 or status >= 500 or (status == 200 and body is None):
            kind: type[VenueError] = VenueUnavailable
        elif reason in _AUTH_REASONS or status == 403:
            kind = VenueAuthError
        elif status == 404 or reason == "OrderNotFound":
            kind = VenueNotFound
        else:
            kind = VenueRejected
        return kind(self.name, problem, reason=reason, status=status)


def _number(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def _decimal(value: float) -> str:
    # Gemini takes amounts and prices as decimal strings, never in exponent notation; ten
    # places are finer than any of its increments.
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"
