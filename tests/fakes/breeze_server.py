"""A fake ICICI Breeze for tests, on 127.0.0.1: the documented shapes of what the market-data
adapter uses — ``customerdetails`` (API_Session -> base64 "user:key"), the security master zip,
and the socket.io quote stream (Engine.IO v4 framing written out by hand: open ``0{...}``,
namespace connect ``40{auth}`` answered ``40{sid}`` or ``44{message}``, events ``42[...]``,
ping ``2`` / pong ``3``). Tests script quotes with :meth:`BreezeFake.push_quote` and drop
every connection with :meth:`BreezeFake.drop_connections`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

#: FONSEScripMaster.txt's header, as in the real file
FONSE_HEADER = ('"Token","InstrumentName","ShortName","Series","ExpiryDate","StrikePrice","OptionType","CALevel",'
                '"PermittedToTrade","IssueCapital","WarningQty","FreezeQty","CreditRating","NormalMarketStatus",'
                '"OddLotMarketStatus","SpotMarketStatus","AuctionMarketStatus","NormalMarketEligibility",'
                '"OddLotMarketEligibility","SpotMarketEligibility","AuctionMarketEligibility","IssueRate",'
                '"IssueStartDate","InterestPaymentDate","IssueMaturityDate","MarginPercentage","MinimumLotQty",'
                '"LotSize","TickSize","CompanyName","ExchangeCode"')  # fmt: skip
_NAMES = {"NIFTY": "NIFTY 50", "CNXBAN": "NIFTY BANK", "BSESEN": "SENSEX"}


def master_row(token: int | str, stock_code: str, expiry: date, strike: float, right: str, lot: int,
               instrument: str = "OPTIDX", exchange_code: str | None = None) -> str:  # fmt: skip
    """One FONSEScripMaster.txt row (stock code as ICICI spells it: NIFTY, CNXBAN)."""
    name = exchange_code if exchange_code is not None else _NAMES.get(stock_code, stock_code)
    return (f'"{token}","{instrument}","{stock_code}","OPTION","{expiry:%d-%b-%Y}","{strike:g}","{right}",'
            f'0,0,0,0,0,"",0,0,0,0,"","","","",0,"","","",0,0,{lot},5,"{name}","{name}"')  # fmt: skip


def quote_list(key: str, ltp: float | None, bid: float | None = None, bid_qty: float | None = None,
               ask: float | None = None, ask_qty: float | None = None, oi: float | None = None,
               volume: float | None = None) -> list[Any]:  # fmt: skip
    """A ``stock`` payload in the SDK's parse_data order: 23 fields for F&O, 21 for an index."""
    head = [key, ltp, ltp, ltp, ltp, 0.0, bid, bid_qty, ask, ask_qty, 75, ltp]
    if "NIFTY" in key or key.startswith("1.1!"):  # an index: cash layout, no OI
        return [*head, volume, None, None, None, "", None, None, 1760000000, ltp]
    return [*head, oi, None, volume, None, None, "38.31C", "", 0.05, 999.0, 1760000000, ltp]


@dataclass
class BreezeFake:
    api_key: str = "breeze-app-key-0a1b2c3d4e"
    user_id: str = "BRZUSER01"
    session_key: str = "breeze-session-key-77e1d2c3b4a5"
    api_sessions: set[str] = field(default_factory=lambda: {"53125831"})
    master_rows: list[str] = field(default_factory=list)
    quotes: dict[str, list[Any]] = field(default_factory=dict)  # stream key -> last payload
    subscribed: set[str] = field(default_factory=set)
    joins: list[list[str]] = field(default_factory=list)
    leaves: list[list[str]] = field(default_factory=list)
    auths: list[dict[str, Any]] = field(default_factory=list)
    connects: int = 0
    pongs: int = 0
    _sockets: list[Any] = field(default_factory=list)
    _loop: Any = None

    def push_quote(self, key: str, ltp: float | None, **fields: float | None) -> None:
        """Set ``key``'s quote; subscribers get it now (joining later ones get it on join)."""
        self.quotes[key] = quote_list(key, ltp, **fields)
        if key in self.subscribed:
            for ws in list(self._sockets):
                self._call(ws.send_text("42" + json.dumps(["stock", self.quotes[key]])), ws)

    def drop_connections(self) -> None:
        for ws in list(self._sockets):
            self._call(ws.close(code=1011), ws)
        self._sockets.clear()
        self.subscribed.clear()

    def _call(self, coro: Any, ws: Any) -> None:
        if self._loop is None:
            coro.close()
            return
        try:
            asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5)
        except Exception:  # the client went away: forget it
            if ws in self._sockets:
                self._sockets.remove(ws)

    def master_zip(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("FONSEScripMaster.txt", FONSE_HEADER + "\n" + "\n".join(self.master_rows) + "\n")
            z.writestr("NSEScripMaster.txt", '"Token", "ShortName", "Series", "CompanyName"\n"NIFTY 50","NIFTY","0","NIFTY 50"\n')
        return buf.getvalue()


def _error(text: str) -> JSONResponse:
    return JSONResponse({"Success": None, "Status": 500, "Error": text})


def create_app(fake: BreezeFake) -> FastAPI:
    app = FastAPI()

    @app.get("/customerdetails")
    async def customer_details(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error("Invalid JSON")
        if body.get("AppKey") != fake.api_key:
            return _error("Public Key does not exist.")
        if body.get("SessionToken") not in fake.api_sessions:
            return _error("Invalid session.")
        token = base64.b64encode(f"{fake.user_id}:{fake.session_key}".encode()).decode()
        return JSONResponse({"Success": {"exg_trade_date": {"NSE": "06-Dec-2026"}, "idirect_userid": fake.user_id,
                                         "session_token": token, "idirect_user_name": "TEST USER"},
                             "Status": 200, "Error": None})  # fmt: skip

    @app.get("/SecurityMaster.zip")
    async def security_master() -> Response:
        return Response(fake.master_zip(), media_type="application/x-zip-compressed")

    @app.websocket("/socket.io/")
    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        fake._loop = asyncio.get_running_loop()
        if ws.query_params.get("EIO") != "4" or ws.query_params.get("transport") != "websocket":
            await ws.close(code=1002)
            return
        try:
            await ws.send_text('0{"sid":"fake-eio-sid","upgrades":[],"pingInterval":25000,"pingTimeout":20000,'
                               '"maxPayload":1000000}')  # fmt: skip
            hello = await ws.receive_text()
            auth = json.loads(hello[2:]) if hello.startswith("40") and len(hello) > 2 else {}
            fake.auths.append(auth)
            if auth.get("user") != fake.user_id or auth.get("token") != fake.session_key:
                await ws.send_text('44{"message":"Unauthorized"}')
                await ws.close()
                return
            await ws.send_text('40{"sid":"fake-sio-sid"}')
            await ws.send_text("2")  # a ping: the client must pong
            fake.connects += 1
            fake._sockets.append(ws)
            while True:
                m = await ws.receive_text()
                if m == "3":
                    fake.pongs += 1
                    continue
                if not m.startswith("42"):
                    continue
                event, keys = json.loads(m[2:])[:2]
                if event == "join":
                    fake.joins.append(list(keys))
                    fake.subscribed.update(keys)
                    for key in keys:
                        if key in fake.quotes:
                            await ws.send_text("42" + json.dumps(["stock", fake.quotes[key]]))
                elif event == "leave":
                    fake.leaves.append(list(keys))
                    fake.subscribed.difference_update(keys)
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            if ws in fake._sockets:
                fake._sockets.remove(ws)

    return app


__all__ = ["FONSE_HEADER", "BreezeFake", "create_app", "master_row", "quote_list"]
