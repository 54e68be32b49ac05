"""A fake Zerodha Kite on 127.0.0.1: Kite Connect v3 REST (FastAPI) + Kite Ticker (websockets).

It speaks the documented shapes — ``{"status": "success", "data": ...}``, errors as
``{"status": "error", "error_type": "TokenException", "message": ...}`` with Kite's HTTP
codes, form-encoded requests, ``Authorization: token api_key:access_token``, the instrument
master as CSV, binary ticker frames and ``{"type": "order"}`` text updates — so the official
``kiteconnect`` SDK runs its real request code against it.

Orders fill against a replayed price (:meth:`FakeKite.set_price`): MARKET at the price,
LIMIT when marketable (at the price). Faults are scripted per request kind
(:meth:`FakeKite.script`): ``"429"``, ``"500"`` (refused before anything happens),
``"500_after"`` / ``"timeout_after"`` (the order IS placed, the answer is an error / late),
``"token"`` (the session expires), ``"garbled"`` (a body that is not JSON), ``"reject"``
(placed, then REJECTED by RMS), ``"partial"`` (half fills now, the rest at the next price),
``"dup_update"`` (each WebSocket order update sent twice), ``"late_update"`` (an older
update sent after the newer one). :meth:`FakeKite.drop_ticker` closes every WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn
import websockets
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from fakes.kite_packets import (  # noqa: F401 - re-exported for tests
    epoch,
    full_packet,
    index_packet,
    ltp_packet,
    quote_packet,
    tick_frame,
)
from optrunner.core.timeutil import IST
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.symbology import format_symbol

API_KEY = "fakekitekey01"
API_SECRET = "fake-kite-api-secret-0123456789"
REQUEST_TOKEN = "fake-request-token-abcdef"
USER_ID = "ZZ0001"
INDEX_TOKENS = {"NIFTY": (256265, "NIFTY 50", "NSE"), "BANKNIFTY": (260105, "NIFTY BANK", "NSE"),
                "SENSEX": (265, "SENSEX", "BSE")}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def instrument_csv(contracts: list[OptionContract], lot: int = 65) -> bytes:
    """A master in Kite's documented column order: index rows + the given options."""
    lines = ["instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
             "instrument_type,segment,exchange"]  # fmt: skip
    for _und, (tok, sym, ex) in INDEX_TOKENS.items():
        lines.append(f'{tok},{tok >> 8},{sym},{sym},0.0,,0.0,0.0,0,EQ,INDICES,{ex}')
    for i, c in enumerate(contracts):
        ex = "BFO" if c.underlying == "SENSEX" else "NFO"
        tok = 10_000_000 + i * 256 + (5 if ex == "BFO" else 2)
        lines.append(f"{tok},{tok >> 8},{format_symbol(c, 'kite')},{c.underlying},0.0,{c.expiry.isoformat()},"
                     f"{c.strike:g},0.05,{lot},{c.right.value},{ex}-OPT,{ex}")  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def _err(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "error_type": error_type, "message": message, "data": None}, status)


def _ok(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


@dataclass
class FakeOrder:
    order_id: str
    form: dict[str, str]
    status: str = "OPEN"
    filled: int = 0
    avg: float = 0.0
    status_message: str | None = None
    ts: datetime = field(default_factory=lambda: datetime.now(IST))
    partial: bool = False

    def as_kite(self) -> dict[str, Any]:
        f = self.form
        q = int(f["quantity"])
        return {
            "placed_by": USER_ID, "order_id": self.order_id, "exchange_order_id": f"X{self.order_id}",
            "parent_order_id": None, "status": self.status, "status_message": self.status_message,
            "status_message_raw": self.status_message, "order_timestamp": f"{self.ts:%Y-%m-%d %H:%M:%S}",
            "exchange_update_timestamp": None, "exchange_timestamp": f"{self.ts:%Y-%m-%d %H:%M:%S}",
            "variety": "regular", "modified": False, "exchange": f["exchange"], "tradingsymbol": f["tradingsymbol"],
            "instrument_token": 0, "order_type": f["order_type"], "transaction_type": f["transaction_type"],
            "validity": f.get("validity", "DAY"), "validity_ttl": 0, "product": f["product"], "quantity": q,
            "disclosed_quantity": 0, "price": float(f.get("price") or 0), "trigger_price": float(f.get("trigger_price") or 0),
            "average_price": self.avg, "filled_quantity": self.filled, "pending_quantity": q - self.filled,
            "cancelled_quantity": q - self.filled if self.status == "CANCELLED" else 0, "market_protection": 0,
            "meta": {}, "tag": f.get("tag"), "tags": [f["tag"]] if f.get("tag") else [], "guid": f"g{self.order_id}",
        }  # fmt: skip


class FakeKite:
    """The fake's state and its two servers. ``start()`` / ``stop()``; URLs in ``api_root``/``ws_root``."""

    def __init__(self, instruments: bytes, now: datetime | None = None) -> None:
        self.instruments = instruments
        self.now = now or datetime.now(IST)
        self.tokens: set[str] = set()
        self.orders: dict[str, FakeOrder] = {}
        self.trades: list[dict[str, Any]] = []
        self.prices: dict[str, float] = {}
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        self.placed_forms: list[dict[str, str]] = []
        self.delay_seconds = 1.5  # a "timeout" answer comes this late
        self.fill_at_limit = False  # no replayed price for a symbol: a LIMIT order fills at its limit
        self.postback_url: str | None = None  # the app's registered Postback URL: every update is POSTed there too
        self.postbacks: list[int] = []  # the status codes the postback URL answered
        self._seq = 0
        self._tid = 0
        self._lock = threading.RLock()
        self._ws_clients: set[Any] = set()
        self.subscribed: set[int] = set()
        self.modes: dict[int, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port, self.ws_port = free_port(), free_port()
        self.api_root = f"http://127.0.0.1:{self.port}"
        self.ws_root = f"ws://127.0.0.1:{self.ws_port}"
        self.app = self._build_app()

    # --- control ---------------------------------------------------------------------------

    def issue_token(self, token: str = "fake-access-token-000000000001") -> str:
        self.tokens.add(token)
        return token

    def script(self, kind: str, *faults: str) -> None:
        """Apply ``faults`` to the next requests of ``kind`` (place, modify, cancel, orders,
        trades, order_trades, positions, margins, ws), one each."""
        self.faults[kind].extend(faults)

    def _fault(self, kind: str) -> str | None:
        q = self.faults.get(kind)
        return q.popleft() if q else None

    def set_price(self, tradingsymbol: str, price: float, ts: datetime | None = None) -> None:
        """The replayed price moved: working orders that are now marketable fill."""
        with self._lock:
            if ts is not None:
                self.now = ts
            self.prices[tradingsymbol] = price
            for o in list(self.orders.values()):
                if o.status == "OPEN" and o.form["tradingsymbol"] == tradingsymbol:
                    self._try_fill(o)

    def expire_sessions(self) -> None:
        self.tokens.clear()

    def net_position(self, tradingsymbol: str) -> int:
        return sum(t["quantity"] * (1 if t["transaction_type"] == "BUY" else -1)
                   for t in self.trades if t["tradingsymbol"] == tradingsymbol)  # fmt: skip

    # --- matching ----------------------------------------------------------------------------

    def _try_fill(self, o: FakeOrder) -> None:
        px = self.prices.get(o.form["tradingsymbol"])
        if px is None and self.fill_at_limit and o.form["order_type"] == "LIMIT":
            px = float(o.form["price"])
        if px is None:
            return
        f, q = o.form, int(o.form["quantity"])
        if f["order_type"] == "LIMIT":
            lim = float(f["price"])
            if (f["transaction_type"] == "BUY" and px > lim) or (f["transaction_type"] == "SELL" and px < lim):
                return
        qty = q - o.filled
        if o.partial and o.filled == 0:
            qty = max(1, q // 2)
        self._tid += 1
        o.avg = (o.avg * o.filled + px * qty) / (o.filled + qty)
        o.filled += qty
        self.trades.append({
            "trade_id": f"T{self._tid:08d}", "order_id": o.order_id, "exchange": f["exchange"],
            "tradingsymbol": f["tradingsymbol"], "instrument_token": 0, "product": f["product"],
            "average_price": px, "quantity": qty, "exchange_order_id": f"X{o.order_id}",
            "transaction_type": f["transaction_type"], "fill_timestamp": f"{self.now:%Y-%m-%d %H:%M:%S}",
            "order_timestamp": f"{self.now:%H:%M:%S}", "exchange_timestamp": f"{self.now:%Y-%m-%d %H:%M:%S}",
        })  # fmt: skip
        if o.filled == q:
            o.status = "COMPLETE"
        self._push_update(o)

    def _push_update(self, o: FakeOrder, previous: dict[str, Any] | None = None) -> None:
        msgs = [o.as_kite()]
        mode = self._fault("ws")
        if mode == "dup_update":
            msgs.append(msgs[0])
        elif mode == "late_update" and previous is not None:
            msgs.append(previous)
        for m in msgs:
            self._broadcast_text(json.dumps({"type": "order", "id": "", "data": m}))
            if self.postback_url is not None:  # as Kite does: JSON body with its checksum, off the order path
                threading.Thread(target=self._post_back, args=(m,), daemon=True).start()

    def _post_back(self, order: dict[str, Any]) -> None:
        import httpx

        body = order | {"checksum": postback_checksum(order, API_SECRET)}
        self.postbacks.append(httpx.post(self.postback_url or "", json=body, timeout=5).status_code)

    # --- REST ----------------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI()
        fake = self

        def auth(request: Request) -> JSONResponse | None:
            h = request.headers.get("authorization", "")
            key, _, tok = h.removeprefix("token ").partition(":")
            if key != API_KEY or tok not in fake.tokens:
                return _err(403, "TokenException", "Incorrect `api_key` or `access_token`.")
            return None

        async def faulted(kind: str) -> JSONResponse | Response | str | None:
            f = fake._fault(kind)
            if f == "429":
                return _err(429, "NetworkException", "Too many requests")
            if f == "500":
                return _err(500, "GeneralException", "Something went wrong")
            if f == "token":
                fake.expire_sessions()
                return _err(403, "TokenException", "Token is invalid or has expired.")
            if f == "garbled":
                return Response('{"status": "success", "data": {"order_id": ', media_type="application/json")
            return f  # None, or an "after" fault for the handler

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            fake.requests.append((request.method, request.url.path))
            return await call_next(request)

        @app.post("/session/token")
        async def session_token(request: Request) -> JSONResponse:
            form = await _form(request)
            want = hashlib.sha256((API_KEY + REQUEST_TOKEN + API_SECRET).encode()).hexdigest()
            if form.get("api_key") != API_KEY or form.get("request_token") != REQUEST_TOKEN or form.get("checksum") != want:
                return _err(403, "TokenException", "Token is invalid or has expired.")
            tok = fake.issue_token(f"fake-access-token-{len(fake.tokens) + 2:012d}")
            return _ok({"user_id": USER_ID, "user_name": "Fake User", "user_shortname": "Fake", "email": "f@example.com",
                        "user_type": "individual", "broker": "ZERODHA", "exchanges": ["NSE", "NFO", "BFO"],
                        "products": ["CNC", "NRML", "MIS"], "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                        "api_key": API_KEY, "access_token": tok, "public_token": "pub", "refresh_token": "",
                        "login_time": f"{fake.now:%Y-%m-%d %H:%M:%S}", "meta": {}, "avatar_url": None})  # fmt: skip

        @app.get("/instruments")
        async def instruments(request: Request) -> Response:
            return Response(fake.instruments, media_type="text/csv")

        @app.post("/orders/{variety}")
        async def place(variety: str, request: Request) -> Any:
            if (bad := auth(request)) is not None:
                return bad
            f = await faulted("place")
            if not isinstance(f, str | None):
                return f
            form = await _form(request)
            fake.placed_forms.append(form)
            if (form.get("exchange"), form.get("tradingsymbol")) not in fake._symbols():
                return _err(400, "InputException", "Invalid `tradingsymbol`.")
            with fake._lock:
                fake._seq += 1
                oid = f"2512050{fake._seq:08d}"
                o = fake.orders[oid] = FakeOrder(oid, form, ts=fake.now, partial=f == "partial")
                if f == "reject":
                    o.status, o.status_message = "REJECTED", "Insufficient funds. Required margin is 95000.00"
                    fake._push_update(o)
                else:
                    fake._push_update(o)
                    fake._try_fill(o)
            if f == "500_after":
                return _err(500, "GeneralException", "Something went wrong")
            if f == "timeout_after":
                await asyncio.sleep(fake.delay_seconds)
            return _ok({"order_id": oid})

        @app.put("/orders/{variety}/{order_id}")
        async def modify(variety: str, order_id: str, request: Request) -> Any:
            if (bad := auth(request)) is not None:
                return bad
            if (f := await faulted("modify")) is not None and not isinstance(f, str):
                return f
            form = await _form(request)
            with fake._lock:
                o = fake.orders.get(order_id)
                if o is None:
                    return _err(400, "InputException", "Invalid `order_id`.")
                if o.status != "OPEN":
                    return _err(400, "InputException", f"Order cannot be modified as it is being processed or is {o.status}.")
                prev = o.as_kite()
                if "price" in form:
                    o.form["price"] = form["price"]
                fake._push_update(o, prev)
                fake._try_fill(o)
            return _ok({"order_id": order_id})

        @app.delete("/orders/{variety}/{order_id}")
        async def cancel(variety: str, order_id: str, request: Request) -> Any:
            if (bad := auth(request)) is not None:
                return bad
            if (f := await faulted("cancel")) is not None and not isinstance(f, str):
                return f
            with fake._lock:
                o = fake.orders.get(order_id)
                if o is None:
                    return _err(400, "InputException", "Invalid `order_id`.")
                if o.status != "OPEN":
                    return _err(400, "InputException", f"Order cannot be cancelled as it is {o.status}.")
                prev = o.as_kite()
                o.status = "CANCELLED"
                fake._push_update(o, prev)
            return _ok({"order_id": order_id})

        @app.get("/orders")
        async def orders(request: Request) -> Any:
            if (bad := auth(request)) is not None:
                return bad
            if (f := await faulted("orders")) is not None and not isinstance(f, str):
                return f
            with fake._lock:
                return _ok([o.as_kite() for o in fake.orders.values()])

        @app.get("/orders/{order_id}/trades")
        async def order_trades(order_id: str, request: Request) -> Any:
            if (bad := auth(request)) is not None:
                return bad
            if (f := await faulted("order_trades")) is not None and not isinstance(f, str):
                return f
            with fake._lock:
                return _ok([t for t in fake.trades if t["order_id"] == order_id])

        @app.get("/trades")
        async def trades(request: Request) -> Any:
            if (bad := auth(request)) is not None:
                return bad
            if (f := await faulted("trades")) is not None and not isinstance(f, str):
                return f
            with fake._lock:
                return _ok(list(fake.trades))

        @app.get("/portfolio/positions")
        async def positions(request: Request) -> Any:
            if (bad := auth(request)) is not None:
                return bad
            if (f := await faulted("positions")) is not None and not isinstance(f, str):
                return f
            with fake._lock:
                net: dict[tuple[str, str], dict[str, Any]] = {}
                for t in fake.trades:
                    k = (t["exchange"], t["tradingsymbol"])
                    p = net.setdefault(k, {"tradingsymbol": k[1], "exchange": k[0], "instrument_token": 0,
                                           "product": t["product"], "quantity": 0, "overnight_quantity": 0,
                                           "multiplier": 1, "average_price": 0.0, "last_price": 0.0, "pnl": 0.0,
                                           "buy_quantity": 0, "sell_quantity": 0})  # fmt: skip
                    sign = 1 if t["transaction_type"] == "BUY" else -1
                    p["quantity"] += sign * t["quantity"]
                    p["buy_quantity" if sign > 0 else "sell_quantity"] += t["quantity"]
                rows = list(net.values())
                return _ok({"net": rows, "day": rows})

        @app.get("/user/margins")
        async def margins(request: Request) -> Any:
            if (bad := auth(request)) is not None:
                return bad
            return _ok({"equity": {"enabled": True, "net": 1_000_000.0,
                                   "available": {"adhoc_margin": 0, "cash": 1_000_000.0, "opening_balance": 1_000_000.0,
                                                 "live_balance": 1_000_000.0, "collateral": 0, "intraday_payin": 0},
                                   "utilised": {"debits": 0.0, "exposure": 0, "m2m_realised": 0, "m2m_unrealised": 0,
                                                "option_premium": 0, "payout": 0, "span": 0, "holding_sales": 0,
                                                "turnover": 0}}})  # fmt: skip

        @app.get("/health")
        async def health() -> PlainTextResponse:
            return PlainTextResponse("ok")

        return app

    def _symbols(self) -> set[tuple[str, str]]:
        if not hasattr(self, "_symbol_set"):
            rows = self.instruments.decode().splitlines()[1:]
            self._symbol_set = {(r.split(",")[11], r.split(",")[2]) for r in rows if r}
        return self._symbol_set

    # --- ticker ----------------------------------------------------------------------------

    async def _ws_handler(self, ws: Any) -> None:
        from urllib.parse import parse_qs, urlparse

        q = parse_qs(urlparse(ws.request.path).query)
        if q.get("api_key", [""])[0] != API_KEY or q.get("access_token", [""])[0] not in self.tokens:
            await ws.close(code=1008, reason="invalid token")
            return
        self._ws_clients.add(ws)
        try:
            async for msg in ws:
                d = json.loads(msg)
                if d.get("a") == "subscribe":
                    self.subscribed.update(int(t) for t in d["v"])
                elif d.get("a") == "unsubscribe":
                    self.subscribed.difference_update(int(t) for t in d["v"])
                elif d.get("a") == "mode":
                    mode, toks = d["v"]
                    self.modes.update({int(t): mode for t in toks})
        except websockets.ConnectionClosed:
            pass
        finally:
            self._ws_clients.discard(ws)

    def _broadcast(self, data: bytes | str) -> None:
        loop = self._loop
        if loop is None:
            return
        for ws in list(self._ws_clients):
            asyncio.run_coroutine_threadsafe(_send_quietly(ws, data), loop)

    def _broadcast_text(self, text: str) -> None:
        self._broadcast(text)

    def send_ticks(self, frame: bytes) -> None:
        """A binary ticker frame (see :func:`tick_frame`) to every connected client."""
        self._broadcast(frame)

    def drop_ticker(self) -> None:
        loop = self._loop
        for ws in list(self._ws_clients):
            if loop is not None:
                asyncio.run_coroutine_threadsafe(ws.close(code=1011, reason="dropped"), loop)

    @property
    def ws_clients(self) -> int:
        return len(self._ws_clients)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeKite:
        cfg = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(cfg)
        threading.Thread(target=self._server.run, daemon=True).start()
        ready = threading.Event()

        def ws_main() -> None:
            async def run() -> None:
                self._loop = asyncio.get_running_loop()
                self._ws_stop = asyncio.Event()
                async with websockets.serve(self._ws_handler, "127.0.0.1", self.ws_port):
                    ready.set()
                    await self._ws_stop.wait()

            asyncio.run(run())

        threading.Thread(target=ws_main, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        if not (self._server.started and ready.wait(10)):
            raise RuntimeError(f"the fake Kite did not start on ports {self.port}/{self.ws_port}")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._ws_stop.set)


async def _form(request: Request) -> dict[str, str]:
    """A form-encoded body (what the SDK sends), without python-multipart."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl((await request.body()).decode()))


async def _send_quietly(ws: Any, data: bytes | str) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        await ws.send(data)



__all__ = ["API_KEY", "API_SECRET", "REQUEST_TOKEN", "FakeKite", "full_packet", "index_packet", "instrument_csv", "ltp_packet",
           "quote_packet", "tick_frame"]


def postback_checksum(order: dict[str, Any], api_secret: str) -> str:
    """Kite's documented postback checksum: SHA-256 of order_id + order_timestamp + api_secret."""
    return hashlib.sha256((order["order_id"] + order["order_timestamp"] + api_secret).encode()).hexdigest()
