"""A fake DhanHQ v2 REST API on 127.0.0.1, with scripted faults, for the Dhan adapter's tests.

Shapes follow https://dhanhq.co/docs/v2/ (orders, trades, positions, funds, errors): camelCase
fields, ``access-token``/``client-id`` headers, errors as ``{errorType, errorCode,
errorMessage}`` (DH-901 authentication, DH-904 rate limit, DH-905 input, DH-906 order,
DH-908 internal). The order book keeps every order of the day; ``correlationId`` is stored,
not enforced unique (as at Dhan), so a blind resend after a lost answer makes a duplicate —
which the tests check never happens.

Faults are scripted per request (``fault("POST /v2/orders", "500_after")``): ``429`` and
``500`` answer without processing; ``500_after`` / ``timeout_after`` / ``garbage``
process the request and then lose or spoil the answer (the order exists at the broker).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, Response

IST = timezone(timedelta(hours=5, minutes=30))

ERR_AUTH = ("Invalid_Authentication", "DH-901", "Client ID or user generated access token is invalid or expired.")
ERR_RATE = ("Rate_Limit", "DH-904", "Too many requests on server from single user breaching rate limits.")
ERR_INPUT = ("Input_Exception", "DH-905", "Missing required fields, bad values for parameters etc.")
ERR_ORDER = ("Order_Error", "DH-906", "Incorrect request for order and cannot be processed.")
ERR_INTERNAL = ("Internal_Server_Error", "DH-908", "Server was not able to process API request.")

FAULTS = ("429", "500", "500_after", "timeout_after", "garbage", "garbage_after")

#: one row per contract of the fixture instrument master (compact api-scrip-master.csv columns)
CSV_HEADER = (
    "SEM_EXM_EXCH_ID,SEM_SEGMENT,SEM_SMST_SECURITY_ID,SEM_INSTRUMENT_NAME,SEM_EXPIRY_CODE,SEM_TRADING_SYMBOL,"
    "SEM_LOT_UNITS,SEM_CUSTOM_SYMBOL,SEM_EXPIRY_DATE,SEM_STRIKE_PRICE,SEM_OPTION_TYPE,SEM_TICK_SIZE,"
    "SEM_EXPIRY_FLAG,SEM_EXCH_INSTRUMENT_TYPE,SEM_SERIES,SM_SYMBOL_NAME"
)


@dataclass
class DhanFake:
    """The fake's state; the tests drive it directly (fills, faults) while the adapter talks HTTP."""

    client_id: str = "1000000001"
    access_token: str = "dhan-secret-token-0123456789abcdef"
    instruments_csv: str = CSV_HEADER + "\n"
    token_validity: str = "31/12/2099 15:30"
    market_fill_price: float = 100.0
    auto_fill_market: bool = True
    fill_at_limit: bool = False  # LIMIT orders fill at their limit on arrival (end-to-end sessions)
    timeout_seconds: float = 3.0
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    _faults: dict[str, deque[str]] = field(default_factory=dict)
    _rejects: deque[str] = field(default_factory=deque)
    _ids: Any = field(default_factory=lambda: itertools.count(5200000001))
    _trade_ids: Any = field(default_factory=lambda: itertools.count(90001))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _sockets: list[Any] = field(default_factory=list)
    _loop: Any = None
    ws_logins: list[dict[str, Any]] = field(default_factory=list)
    # the Live Market Feed (the same socket path, told apart by its ?version=2&token=... query)
    _feed_subs: dict[int, dict[tuple[str, str], int]] = field(default_factory=dict)  # per open socket
    feed_requests: list[dict[str, Any]] = field(default_factory=list)
    feed_connects: int = 0
    _feed_sockets: list[Any] = field(default_factory=list)

    # --- scripting --------------------------------------------------------------------------

    def fault(self, route: str, kind: str, times: int = 1) -> None:
        """The next ``times`` requests on ``route`` (``"POST /v2/orders"``, ``"GET /v2/orders"``...)
        meet ``kind`` (one of FAULTS)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}")
        self._faults.setdefault(route, deque()).extend([kind] * times)

    def reject_next(self, reason: str) -> None:
        """The next placement is accepted by the API and rejected by the RMS with ``reason``."""
        self._rejects.append(reason)

    def expire_token(self) -> None:
        self.access_token = "expired:" + self.access_token

    def placed(self) -> list[dict[str, Any]]:
        """Every placement request that reached the book (bodies as sent)."""
        return [b for m, p, b in self.requests if m == "POST" and p == "/v2/orders" and b is not None]

    def by_correlation(self, correlation_id: str) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o.get("correlationId") == correlation_id]

    def fill(self, order_id: str, quantity: int | None = None, price: float | None = None) -> dict[str, Any]:
        """Execute ``quantity`` (default: all that remains) of a working order."""
        with self._lock:
            return self._fill(self.orders[order_id], quantity, price)

    def set_status(self, order_id: str, status: str, reason: str = "") -> None:
        with self._lock:
            o = self.orders[order_id]
            o["orderStatus"] = status
            o["omsErrorDescription"] = reason
            o["updateTime"] = _now()

    def push_alert(self, order_id: str) -> None:
        """A Live Order Update ``order_alert`` for the order as it is now (camelCase, as the SDK reads)."""
        o = self.orders[order_id]
        data = {"orderNo": o["orderId"], "status": o["orderStatus"], "correlationId": o["correlationId"],
                "quantity": o["quantity"], "tradedQty": o["filledQty"], "avgTradedPrice": o["averageTradedPrice"],
                "securityId": o["securityId"], "reasonDescription": o["omsErrorDescription"]}  # fmt: skip
        message = json.dumps({"Type": "order_alert", "Data": data})
        for ws in list(self._sockets):
            asyncio.run_coroutine_threadsafe(ws.send_text(message), self._loop).result(timeout=5)

    def push_feed(self, data: bytes) -> int:
        """One binary message (packets from ``fakes.dhan_packets``) to every feed connection."""
        for ws in list(self._feed_sockets):
            asyncio.run_coroutine_threadsafe(ws.send_bytes(data), self._loop).result(timeout=5)
        return len(self._feed_sockets)

    def drop_feed(self) -> None:
        """Close every feed connection (a network drop)."""
        for ws in list(self._feed_sockets):
            asyncio.run_coroutine_threadsafe(ws.close(code=1011), self._loop).result(timeout=5)

    @property
    def feed_subscribed(self) -> dict[tuple[str, str], int]:
        """(segment, security id) -> request code over the open feed connections (a subscription
        dies with its connection, as at Dhan)."""
        out: dict[tuple[str, str], int] = {}
        for subs in list(self._feed_subs.values()):
            out.update(subs)
        return out

    # --- the book ---------------------------------------------------------------------------

    def _place(self, body: dict[str, Any]) -> dict[str, Any]:
        oid = str(next(self._ids))
        inst = self._instrument(str(body.get("securityId")))
        o = {
            "dhanClientId": self.client_id, "orderId": oid, "correlationId": body.get("correlationId", ""),
            "orderStatus": "PENDING", "transactionType": body["transactionType"],
            "exchangeSegment": body["exchangeSegment"], "productType": body["productType"],
            "orderType": body["orderType"], "validity": body.get("validity", "DAY"),
            "tradingSymbol": inst.get("SEM_TRADING_SYMBOL", ""), "securityId": str(body["securityId"]),
            "quantity": int(body["quantity"]), "disclosedQuantity": 0, "price": float(body.get("price") or 0),
            "triggerPrice": float(body.get("triggerPrice") or 0), "afterMarketOrder": False,
            "boProfitValue": 0, "boStopLossValue": 0, "legName": "", "createTime": _now(), "updateTime": _now(),
            "exchangeTime": _now(), "drvExpiryDate": inst.get("SEM_EXPIRY_DATE", ""),
            "drvOptionType": {"CE": "CALL", "PE": "PUT"}.get(inst.get("SEM_OPTION_TYPE", ""), ""),
            "drvStrikePrice": float(inst.get("SEM_STRIKE_PRICE") or 0), "omsErrorCode": "",
            "omsErrorDescription": "", "algoId": "", "remainingQuantity": int(body["quantity"]),
            "averageTradedPrice": 0.0, "filledQty": 0,
        }  # fmt: skip
        self.orders[oid] = o
        if self._rejects:
            o["orderStatus"], o["omsErrorCode"] = "REJECTED", "RMS"
            o["omsErrorDescription"] = self._rejects.popleft()
        elif body["orderType"] == "MARKET" and self.auto_fill_market:
            self._fill(o, None, self.market_fill_price)
        elif body["orderType"] == "LIMIT" and self.fill_at_limit:
            self._fill(o, None, o["price"])
        return o

    def _fill(self, o: dict[str, Any], quantity: int | None, price: float | None) -> dict[str, Any]:
        if o["orderStatus"] not in ("PENDING", "PART_TRADED", "TRANSIT"):
            raise ValueError(f"order {o['orderId']} is {o['orderStatus']}")
        q = quantity or o["remainingQuantity"]
        p = price if price is not None else (o["price"] or self.market_fill_price)
        filled = o["filledQty"] + q
        o["averageTradedPrice"] = (o["averageTradedPrice"] * o["filledQty"] + p * q) / filled
        o["filledQty"], o["remainingQuantity"] = filled, o["quantity"] - filled
        o["orderStatus"] = "TRADED" if o["remainingQuantity"] == 0 else "PART_TRADED"
        o["updateTime"] = _now()
        t = {
            "dhanClientId": self.client_id, "orderId": o["orderId"], "exchangeOrderId": "1100" + o["orderId"],
            "exchangeTradeId": str(next(self._trade_ids)), "transactionType": o["transactionType"],
            "exchangeSegment": o["exchangeSegment"], "productType": o["productType"], "orderType": o["orderType"],
            "tradingSymbol": o["tradingSymbol"], "customSymbol": "", "securityId": o["securityId"],
            "tradedQuantity": q, "tradedPrice": p, "createTime": _now(), "updateTime": _now(),
            "exchangeTime": _now(), "drvExpiryDate": o["drvExpiryDate"], "drvOptionType": o["drvOptionType"],
            "drvStrikePrice": o["drvStrikePrice"],
        }  # fmt: skip
        self.trades.append(t)
        return t

    def _instrument(self, security_id: str) -> dict[str, str]:
        lines = self.instruments_csv.strip().splitlines()
        cols = lines[0].split(",")
        for line in lines[1:]:
            row = dict(zip(cols, line.split(","), strict=False))
            if row.get("SEM_SMST_SECURITY_ID") == security_id:
                return row
        return {}

    def positions(self) -> list[dict[str, Any]]:
        net: dict[str, dict[str, Any]] = {}
        for t in self.trades:
            p = net.setdefault(t["securityId"], {
                "dhanClientId": self.client_id, "tradingSymbol": t["tradingSymbol"], "securityId": t["securityId"],
                "exchangeSegment": t["exchangeSegment"], "productType": t["productType"], "buyAvg": 0.0,
                "buyQty": 0, "sellAvg": 0.0, "sellQty": 0, "netQty": 0, "realizedProfit": 0.0,
                "unrealizedProfit": 0.0, "multiplier": 1, "drvExpiryDate": t["drvExpiryDate"],
                "drvOptionType": t["drvOptionType"], "drvStrikePrice": t["drvStrikePrice"],
            })  # fmt: skip
            q = t["tradedQuantity"]
            if t["transactionType"] == "BUY":
                p["buyAvg"] = (p["buyAvg"] * p["buyQty"] + t["tradedPrice"] * q) / (p["buyQty"] + q)
                p["buyQty"] += q
            else:
                p["sellAvg"] = (p["sellAvg"] * p["sellQty"] + t["tradedPrice"] * q) / (p["sellQty"] + q)
                p["sellQty"] += q
            p["netQty"] = p["buyQty"] - p["sellQty"]
        for p in net.values():
            p["positionType"] = "LONG" if p["netQty"] > 0 else "SHORT" if p["netQty"] < 0 else "CLOSED"
        return list(net.values())


def _now() -> str:
    return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")


def _error(status: int, err: tuple[str, str, str], message: str | None = None) -> JSONResponse:
    kind, code, text = err
    return JSONResponse({"errorType": kind, "errorCode": code, "errorMessage": message or text}, status_code=status)


def create_app(fake: DhanFake) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def gate(request: Request, call_next: Any) -> Response:
        path = request.url.path
        raw = await request.body()
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(400, ERR_INPUT, "body is not JSON")
        fake.requests.append((request.method, path, body))
        fake.seen_headers.append(dict(request.headers))
        if path == "/api-scrip-master.csv":
            return await call_next(request)
        if request.headers.get("access-token") != fake.access_token or request.headers.get("client-id") != fake.client_id:
            return _error(401, ERR_AUTH)
        route = f"{request.method} {path}"
        queue = fake._faults.get(route) or fake._faults.get(f"{request.method} {path.rsplit('/', 1)[0]}/*")
        kind = queue.popleft() if queue else None
        if kind == "429":
            return _error(429, ERR_RATE)
        if kind == "500":
            return _error(500, ERR_INTERNAL)
        if kind == "garbage":
            return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=200)
        response = await call_next(request)
        if kind == "500_after":
            return _error(500, ERR_INTERNAL)
        if kind == "garbage_after":
            return PlainTextResponse("{\"orderId\": ", status_code=200)
        if kind == "timeout_after":
            await asyncio.sleep(fake.timeout_seconds)
        return response

    async def body_of(request: Request) -> dict[str, Any]:
        raw = await request.body()
        return json.loads(raw) if raw else {}

    @app.post("/v2/orders")
    async def place(request: Request) -> Response:
        body = await body_of(request)
        missing = [k for k in ("transactionType", "exchangeSegment", "productType", "orderType", "securityId",
                               "quantity") if k not in body]  # fmt: skip
        if missing or body.get("dhanClientId") != fake.client_id:
            return _error(400, ERR_INPUT, f"missing {missing} or wrong dhanClientId")
        with fake._lock:
            o = fake._place(body)
        return JSONResponse({"orderId": o["orderId"], "orderStatus": "TRANSIT"})

    @app.get("/v2/orders")
    async def order_book() -> Response:
        return JSONResponse(list(fake.orders.values()))

    @app.get("/v2/orders/external/{correlation_id}")
    async def by_correlation(correlation_id: str) -> Response:
        found = fake.by_correlation(correlation_id)
        if not found:
            return _error(400, ("Data_Error", "DH-907", "No order found for the correlation id"))
        return JSONResponse(found[-1])

    @app.get("/v2/orders/{order_id}")
    async def one(order_id: str) -> Response:
        o = fake.orders.get(order_id)
        return JSONResponse(o) if o else _error(400, ("Data_Error", "DH-907", "order not found"))

    @app.put("/v2/orders/{order_id}")
    async def modify(order_id: str, request: Request) -> Response:
        body = await body_of(request)
        with fake._lock:
            o = fake.orders.get(order_id)
            if o is None or o["orderStatus"] not in ("PENDING", "PART_TRADED", "TRANSIT"):
                return _error(400, ERR_ORDER, "Order is not in a modifiable state")
            o["price"] = float(body.get("price") or o["price"])
            o["triggerPrice"] = float(body.get("triggerPrice") or o["triggerPrice"])
            o["updateTime"] = _now()
        return JSONResponse({"orderId": order_id, "orderStatus": o["orderStatus"]})

    @app.delete("/v2/orders/{order_id}")
    async def cancel(order_id: str) -> Response:
        with fake._lock:
            o = fake.orders.get(order_id)
            if o is None or o["orderStatus"] not in ("PENDING", "PART_TRADED", "TRANSIT"):
                return _error(400, ERR_ORDER, "Order is not in a cancellable state")
            o["orderStatus"], o["updateTime"] = "CANCELLED", _now()
        return JSONResponse({"orderId": order_id, "orderStatus": "CANCELLED"})

    @app.get("/v2/trades")
    async def trades() -> Response:
        return JSONResponse(fake.trades)

    @app.get("/v2/trades/{order_id}")
    async def trades_of(order_id: str) -> Response:
        return JSONResponse([t for t in fake.trades if t["orderId"] == order_id])

    @app.get("/v2/positions")
    async def positions() -> Response:
        return JSONResponse(fake.positions())

    @app.get("/v2/fundlimit")
    async def funds() -> Response:
        return JSONResponse({
            "dhanClientId": fake.client_id, "availabelBalance": 500000.0, "sodLimit": 500000.0,
            "collateralAmount": 0.0, "receiveableAmount": 0.0, "utilizedAmount": 0.0,
            "blockedPayoutAmount": 0.0, "withdrawableBalance": 500000.0,
        })  # fmt: skip  (sic: "availabelBalance" is Dhan's spelling)

    async def market_feed(ws: WebSocket) -> None:
        q = ws.query_params
        if q.get("token") != fake.access_token or q.get("clientId") != fake.client_id or q.get("authType") != "2":
            await ws.send_bytes(struct.pack("<BHBIH", 50, 10, 0, 0, 808))  # authentication failed
            await ws.close(code=1008)
            return
        fake.feed_connects += 1
        fake._feed_sockets.append(ws)
        subs = fake._feed_subs.setdefault(id(ws), {})
        try:
            while True:
                m = json.loads(await ws.receive_text())
                fake.feed_requests.append(m)
                code = int(m["RequestCode"])
                items = m["InstrumentList"]
                if len(items) > 100 or int(m["InstrumentCount"]) != len(items):
                    await ws.send_bytes(struct.pack("<BHBIH", 50, 10, 0, 0, 804))  # too many instruments
                    continue
                for it in items:
                    key = (str(it["ExchangeSegment"]), str(it["SecurityId"]))
                    if code in (15, 17, 21):
                        subs[key] = code
                    elif code in (16, 18, 22):
                        subs.pop(key, None)
        except (WebSocketDisconnect, RuntimeError, ValueError, KeyError):
            pass
        finally:
            fake._feed_subs.pop(id(ws), None)
            if ws in fake._feed_sockets:
                fake._feed_sockets.remove(ws)

    @app.websocket("/")
    async def order_updates(ws: WebSocket) -> None:
        await ws.accept()
        fake._loop = asyncio.get_running_loop()
        if ws.query_params.get("version") == "2":
            return await market_feed(ws)
        try:
            login = json.loads(await ws.receive_text())
            fake.ws_logins.append(login)
            req = login.get("LoginReq") or {}
            if req.get("MsgCode") != 42 or req.get("ClientId") != fake.client_id or req.get("Token") != fake.access_token:
                await ws.close(code=1008)
                return
            fake._sockets.append(ws)
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            if ws in fake._sockets:
                fake._sockets.remove(ws)

    @app.get("/v2/profile")
    async def profile() -> Response:
        return JSONResponse({"dhanClientId": fake.client_id, "tokenValidity": fake.token_validity,
                             "activeSegment": "Equity, Derivative", "ddpi": "Active", "mtf": "Active",
                             "dataPlan": "Active", "dataValidity": fake.token_validity})  # fmt: skip

    @app.get("/api-scrip-master.csv")
    async def scrip_master() -> Response:
        return PlainTextResponse(fake.instruments_csv, media_type="text/csv")

    return app


def instrument_row(
    security_id: str, underlying: str, expiry: str, strike: float, right: str, lot: int,
    exchange: str = "NSE", monthly: bool = False,
) -> str:
    """One compact-master row (``expiry`` as YYYY-MM-DD) in Dhan's spelling."""
    d = datetime.strptime(expiry, "%Y-%m-%d")
    mon = d.strftime("%b")
    k = f"{strike:g}"
    trading = f"{underlying}-{mon}{d.year}-{k}-{right}"
    custom = f"{underlying} {d.day} {mon.upper()} {k} {'CALL' if right == 'CE' else 'PUT'}"
    return ",".join([
        exchange, "D", security_id, "OPTIDX", "0", trading, f"{float(lot):.1f}", custom, f"{expiry} 14:30:00",
        f"{strike:.5f}", right, "0.0500", "M" if monthly else "W", "OP", "NA", underlying,
    ])  # fmt: skip
