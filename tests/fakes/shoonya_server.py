"""A fake Shoonya (Finvasia NorenOMS) REST API on 127.0.0.1, with scripted faults.

Every call is ``POST /<Endpoint>`` with the body ``jData=<json>&jKey=<session token>``
(QuickAuth has no jKey), exactly as the NorenRestApiPy client writes it — the JSON is not
URL-encoded. Answers carry ``"stat": "Ok"`` or ``"stat": "Not_Ok"`` with ``emsg``; a bad
session answers ``"Session Expired :  Invalid Session Key"``; an empty book answers
``Not_Ok`` / ``"no data"``. Numbers in orders and trades are strings, as at Shoonya.

QuickAuth checks the documented factors: ``pwd`` = sha256(password), ``appkey`` =
sha256(``uid|api_secret``), ``factor2`` = the current TOTP (pyotp) and ``vc``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pyotp
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, Response

IST = timezone(timedelta(hours=5, minutes=30))
FAULTS = ("429", "500", "500_after", "timeout_after", "garbage", "garbage_after")
SESSION_EXPIRED = "Session Expired :  Invalid Session Key"
SYMBOLS_HEADER = "Exchange,Token,LotSize,Symbol,TradingSymbol,Expiry,Instrument,OptionType,StrikePrice,TickSize,"
PRICE_TYPES = ("MKT", "LMT", "SL-LMT", "SL-MKT")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ShoonyaFake:
    uid: str = "FA12345"
    password: str = "shoonya-password-secret"
    api_secret: str = "shoonya-api-secret-0123456789"
    vendor_code: str = "FA12345_U"
    totp_secret: str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    market_fill_price: float = 100.0
    auto_fill_market: bool = True
    fill_at_limit: bool = False  # LMT orders fill at their limit on arrival (end-to-end sessions)
    timeout_seconds: float = 3.0
    tokens: set[str] = field(default_factory=set)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any] | None, str]] = field(default_factory=list)
    raw_bodies: list[str] = field(default_factory=list)
    logins: int = 0
    _faults: dict[str, deque[str]] = field(default_factory=dict)
    _rejects: deque[str] = field(default_factory=deque)
    _ids: Any = field(default_factory=lambda: itertools.count(26011300000001))
    _fill_ids: Any = field(default_factory=lambda: itertools.count(700001))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    instruments: list[str] = field(default_factory=list)  # NFO_symbols.txt rows (without header)
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "NFO|35001" -> touchline fields
    subscribed: set[str] = field(default_factory=set)
    ws_connects: int = 0
    duplicate_updates: bool = False  # push every order update twice
    _sockets: list[Any] = field(default_factory=list)
    _order_sockets: list[Any] = field(default_factory=list)
    _loop: Any = None

    def fault(self, endpoint: str, kind: str, times: int = 1) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}")
        self._faults.setdefault(endpoint, deque()).extend([kind] * times)

    def reject_next(self, reason: str) -> None:
        self._rejects.append(reason)

    def expire_sessions(self) -> None:
        self.tokens.clear()

    def placed(self) -> list[dict[str, Any]]:
        return [b for e, b, _ in self.requests if e == "PlaceOrder" and b is not None]

    def by_remarks(self, remarks: str) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o.get("remarks") == remarks]

    def fill(self, norenordno: str, quantity: int | None = None, price: float | None = None) -> dict[str, Any]:
        with self._lock:
            return self._fill(self.orders[norenordno], quantity, price)

    # --- the WebSocket ----------------------------------------------------------------------

    def push_quote(self, key: str, **fields: Any) -> None:
        """Change a touchline quote; subscribers get a ``tf`` with the changed fields only."""
        q = self.quotes.setdefault(key, {})
        q.update({k: str(v) for k, v in fields.items()})
        if key in self.subscribed:
            e, tk = key.split("|")
            self._send_all(self._sockets, {"t": "tf", "e": e, "tk": tk, **{k: str(v) for k, v in fields.items()}})

    def push_order(self, o: dict[str, Any]) -> None:
        """An ``om`` update of ``o`` as it is now (twice when ``duplicate_updates``)."""
        m = {"t": "om", **{k: v for k, v in o.items() if k != "stat"}, "reporttype": o.get("rpt", "")}
        for _ in range(2 if self.duplicate_updates else 1):
            self._send_all(self._order_sockets, m)

    def drop_connections(self) -> None:
        for ws in list(self._sockets):
            self._call(ws.close(code=1011))
        self._sockets.clear()
        self._order_sockets.clear()
        self.subscribed.clear()

    def _send_all(self, sockets: list[Any], message: dict[str, Any]) -> None:
        for ws in list(sockets):
            try:
                self._call(ws.send_text(json.dumps(message)))
            except Exception:  # the client went away (a test's teardown, a dropped socket): forget it
                if ws in sockets:
                    sockets.remove(ws)

    def _call(self, coro: Any) -> None:
        if self._loop is None:
            coro.close()
            return
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5)

    # --- the book ---------------------------------------------------------------------------

    def _place(self, j: dict[str, Any]) -> dict[str, Any]:
        no = str(next(self._ids))
        inst = self._instrument(j["exch"], j["tsym"])
        now = datetime.now(IST)
        o = {
            "stat": "Ok", "norenordno": no, "uid": self.uid, "actid": j.get("actid", self.uid), "exch": j["exch"],
            "tsym": j["tsym"], "qty": str(int(j["qty"])), "trantype": j["trantype"], "prctyp": j["prctyp"],
            "ret": j.get("ret", "DAY"), "token": inst.get("Token", ""), "ls": inst.get("LotSize", ""),
            "ti": inst.get("TickSize", "0.05"), "prc": str(j.get("prc", "0")), "trgprc": str(j.get("trgprc", "0")),
            "dscqty": "0", "prd": j["prd"], "status": "OPEN", "rpt": "NewAck", "fillshares": "0", "avgprc": "0.00",
            "norentm": now.strftime("%H:%M:%S %d-%m-%Y"), "exch_tm": now.strftime("%d-%m-%Y %H:%M:%S"),
            "remarks": j.get("remarks", ""), "exchordid": "1100" + no[-8:], "rejreason": "",
        }  # fmt: skip
        self.orders[no] = o
        if not inst:
            o["status"], o["rpt"], o["rejreason"] = "REJECTED", "Rejected", "Invalid Trading Symbol"
        elif self._rejects:
            o["status"], o["rpt"], o["rejreason"] = "REJECTED", "Rejected", self._rejects.popleft()
        elif j["prctyp"] == "MKT" and self.auto_fill_market:
            self._fill(o, None, self.market_fill_price)
        elif j["prctyp"] == "LMT" and self.fill_at_limit:
            self._fill(o, None, float(o["prc"]))
        return o

    def _fill(self, o: dict[str, Any], quantity: int | None, price: float | None) -> dict[str, Any]:
        if o["status"] not in ("OPEN", "PENDING", "TRIGGER_PENDING"):
            raise ValueError(f"order {o['norenordno']} is {o['status']}")
        done, total = int(o["fillshares"]), int(o["qty"])
        q = quantity or total - done
        p = price if price is not None else (float(o["prc"]) or self.market_fill_price)
        avg = (float(o["avgprc"]) * done + p * q) / (done + q)
        o["fillshares"], o["avgprc"] = str(done + q), f"{avg:.2f}"
        o["status"] = "COMPLETE" if done + q == total else "OPEN"
        o["rpt"] = "Fill"
        now = datetime.now(IST)
        t = {
            "stat": "Ok", "norenordno": o["norenordno"], "uid": self.uid, "actid": o["actid"], "exch": o["exch"],
            "prd": o["prd"], "prctyp": o["prctyp"], "trantype": o["trantype"], "tsym": o["tsym"], "qty": o["qty"],
            "token": o["token"], "fillshares": o["fillshares"], "avgprc": o["avgprc"], "remarks": o["remarks"],
            "exch_tm": now.strftime("%d-%m-%Y %H:%M:%S"), "flid": str(next(self._fill_ids)),
            "fltm": now.strftime("%d-%m-%Y %H:%M:%S"), "flqty": str(q), "flprc": f"{p:.2f}",
        }  # fmt: skip
        self.trades.append(t)
        return t

    def _instrument(self, exch: str, tsym: str) -> dict[str, str]:
        cols = SYMBOLS_HEADER.split(",")
        for line in self.instruments:
            row = dict(zip(cols, line.split(","), strict=False))
            if row["Exchange"] == exch and row["TradingSymbol"] == tsym:
                return row
        return {}

    def positions(self) -> list[dict[str, Any]]:
        net: dict[tuple[str, str], dict[str, Any]] = {}
        for t in self.trades:
            p = net.setdefault((t["exch"], t["tsym"]), {
                "stat": "Ok", "uid": self.uid, "actid": t["actid"], "exch": t["exch"], "tsym": t["tsym"],
                "prd": t["prd"], "token": t["token"], "netqty": "0", "daybuyqty": "0", "daysellqty": "0",
                "netavgprc": "0.00", "rpnl": "0.00", "urmtom": "0.00", "lp": "0.00",
            })  # fmt: skip
            key = "daybuyqty" if t["trantype"] == "B" else "daysellqty"
            p[key] = str(int(p[key]) + int(t["flqty"]))
            p["netqty"] = str(int(p["daybuyqty"]) - int(p["daysellqty"]))
        return list(net.values())


def _not_ok(msg: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"stat": "Not_Ok", "request_time": datetime.now(IST).strftime("%H:%M:%S %d-%m-%Y"),
                         "emsg": msg}, status_code=status)  # fmt: skip


def parse_body(raw: str) -> tuple[dict[str, Any] | None, str]:
    """``jData=<json>&jKey=<token>`` as NorenOMS reads it (the JSON is not URL-encoded)."""
    if not raw.startswith("jData="):
        return None, ""
    data, _, key = raw[len("jData="):].partition("&jKey=")
    try:
        j = json.loads(data)
    except ValueError:
        return None, key
    return (j if isinstance(j, dict) else None), key


def create_app(fake: ShoonyaFake) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def gate(request: Request, call_next: Any) -> Response:
        endpoint = request.url.path.rsplit("/", 1)[-1]
        if request.method == "GET":
            return await call_next(request)
        raw = (await request.body()).decode()
        j, key = parse_body(raw)
        fake.requests.append((endpoint, j, key))
        fake.raw_bodies.append(raw)
        if j is None:
            return _not_ok("Invalid Input : jData is not JSON", 400)
        if endpoint != "QuickAuth" and key not in fake.tokens:
            return _not_ok(SESSION_EXPIRED)
        queue = fake._faults.get(endpoint)
        kind = queue.popleft() if queue else None
        if kind == "429":
            return PlainTextResponse("Too Many Requests", status_code=429)
        if kind == "500":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if kind == "garbage":
            return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=200)
        request.state.j = j
        response = await call_next(request)
        if kind == "500_after":
            return PlainTextResponse("Internal Server Error", status_code=502)
        if kind == "garbage_after":
            return PlainTextResponse('{"stat": "Ok", "norenordno": ', status_code=200)
        if kind == "timeout_after":
            await asyncio.sleep(fake.timeout_seconds)
        return response

    @app.post("/QuickAuth")
    async def quick_auth(request: Request) -> Response:
        j = request.state.j
        totp = pyotp.TOTP(fake.totp_secret)
        ok = (
            j.get("uid") == fake.uid and j.get("pwd") == sha256(fake.password) and j.get("vc") == fake.vendor_code
            and j.get("appkey") == sha256(f"{fake.uid}|{fake.api_secret}") and totp.verify(str(j.get("factor2")), valid_window=1)
        )  # fmt: skip
        if not ok:
            return _not_ok("Invalid Input : Wrong Password Or TOTP")
        token = secrets.token_hex(32)
        fake.tokens.add(token)
        fake.logins += 1
        return JSONResponse({"request_time": "09:00:01 13-01-2026", "actid": fake.uid, "uname": "TEST USER",
                             "stat": "Ok", "susertoken": token, "email": "x@example.com", "brkname": "FINVASIA",
                             "lastaccesstime": "1768275001"})  # fmt: skip

    @app.post("/PlaceOrder")
    async def place(request: Request) -> Response:
        j = request.state.j
        missing = [k for k in ("uid", "actid", "exch", "tsym", "qty", "prd", "trantype", "prctyp", "ret") if k not in j]
        if missing:
            return _not_ok(f"Invalid Input : {missing[0]} is Missing.")
        if j["prctyp"] not in PRICE_TYPES or j["trantype"] not in ("B", "S") or j["prd"] not in ("M", "I", "C"):
            return _not_ok("Invalid Input : Invalid Price Type / Transaction Type / Product")
        with fake._lock:
            o = fake._place(j)
        return JSONResponse({"request_time": "10:15:02 13-01-2026", "stat": "Ok", "norenordno": o["norenordno"]})

    @app.post("/ModifyOrder")
    async def modify(request: Request) -> Response:
        j = request.state.j
        with fake._lock:
            o = fake.orders.get(str(j.get("norenordno")))
            if o is None or o["status"] not in ("OPEN", "PENDING", "TRIGGER_PENDING"):
                return _not_ok("Rejected : ORA:Order not found or not open")
            o["prc"], o["prctyp"] = str(j.get("prc", o["prc"])), j.get("prctyp", o["prctyp"])
            o["rpt"] = "Replaced"
        return JSONResponse({"request_time": "10:15:03 13-01-2026", "stat": "Ok", "result": o["norenordno"]})

    @app.post("/CancelOrder")
    async def cancel(request: Request) -> Response:
        j = request.state.j
        with fake._lock:
            o = fake.orders.get(str(j.get("norenordno")))
            if o is None or o["status"] not in ("OPEN", "PENDING", "TRIGGER_PENDING"):
                return _not_ok("Rejected : ORA:Order not found or not open")
            o["status"], o["rpt"] = "CANCELED", "Canceled"
        return JSONResponse({"request_time": "10:15:04 13-01-2026", "stat": "Ok", "result": o["norenordno"]})

    @app.post("/OrderBook")
    async def order_book() -> Response:
        rows = list(fake.orders.values())
        return JSONResponse(rows[::-1]) if rows else _not_ok("no data")

    @app.post("/SingleOrdHist")
    async def history(request: Request) -> Response:
        o = fake.orders.get(str(request.state.j.get("norenordno")))
        return JSONResponse([o]) if o else _not_ok("no data")

    @app.post("/TradeBook")
    async def trade_book() -> Response:
        return JSONResponse(fake.trades[::-1]) if fake.trades else _not_ok("no data")

    @app.post("/PositionBook")
    async def position_book() -> Response:
        rows = fake.positions()
        return JSONResponse(rows) if rows else _not_ok("no data")

    @app.post("/Limits")
    async def limits() -> Response:
        return JSONResponse({"request_time": "09:00:02 13-01-2026", "stat": "Ok", "prfname": "SHOONYA",
                             "cash": "500000.00", "payin": "0.00", "payout": "0.00", "marginused": "0.00"})  # fmt: skip

    @app.websocket("/NorenWSTP/")
    async def noren_ws(ws: WebSocket) -> None:
        await ws.accept()
        fake._loop = asyncio.get_running_loop()
        try:
            hello = json.loads(await ws.receive_text())
            if hello.get("t") != "c" or hello.get("susertoken") not in fake.tokens or hello.get("uid") != fake.uid:
                await ws.send_text(json.dumps({"t": "ck", "s": "NOT_OK"}))
                await ws.close()
                return
            await ws.send_text(json.dumps({"t": "ck", "s": "OK", "uid": fake.uid}))
            fake.ws_connects += 1
            fake._sockets.append(ws)
            while True:
                m = json.loads(await ws.receive_text())
                if m.get("t") == "o":
                    fake._order_sockets.append(ws)
                    await ws.send_text(json.dumps({"t": "ok"}))
                elif m.get("t") == "t":
                    for key in str(m.get("k", "")).split("#"):
                        fake.subscribed.add(key)
                        e, tk = key.split("|")
                        await ws.send_text(json.dumps({"t": "tk", "e": e, "tk": tk, **fake.quotes.get(key, {})}))
                elif m.get("t") == "u":
                    fake.subscribed.difference_update(str(m.get("k", "")).split("#"))
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            for group in (fake._sockets, fake._order_sockets):
                if ws in group:
                    group.remove(ws)

    @app.get("/NFO_symbols.txt.zip")
    async def symbols_zip() -> Response:
        import io
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("NFO_symbols.txt", SYMBOLS_HEADER + "\n" + "\n".join(fake.instruments) + "\n")
        return Response(buf.getvalue(), media_type="application/zip")

    return app


def symbol_row(token: str, underlying: str, expiry: str, strike: float, right: str, lot: int) -> str:
    """One NFO_symbols.txt row (``expiry`` as YYYY-MM-DD), e.g. NIFTY13JAN26C25950."""
    d = datetime.strptime(expiry, "%Y-%m-%d")
    k = f"{strike:g}"
    tsym = f"{underlying}{d:%d}{d:%b}{d:%y}{right[0]}{k}".upper()
    return ",".join([
        "NFO", token, str(lot), underlying, tsym, d.strftime("%d-%b-%Y").upper(), "OPTIDX", right, k, "0.05", "",
    ])  # fmt: skip
