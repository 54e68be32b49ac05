"""Breeze live quotes over socket.io (``ws_root``/socket.io/, Engine.IO v4 over WebSocket).

A small socket.io client over ``websockets`` (no python-socketio at run time), speaking what
the ``breeze-connect`` SDK's client does: the server opens with ``0{"sid", "pingInterval",
...}``; we connect to the default namespace with ``40{"user": <user id>, "token": <session
key>}`` and wait for ``40{...}`` (``44{"message"}`` is a refusal); subscribe with
``42["join", ["4.1!<token>", ...]]`` and unsubscribe with ``42["leave", [...]]``; the server's
ping ``2`` is answered with pong ``3``. Quotes arrive as ``42["stock", [...]]``, a list whose
field order the SDK's ``parse_data`` documents for ``<exchange>.1!`` quotes::

    0 symbol ("4.1!51219")  1 open  2 last  3 high  4 low  5 change  6 bid  7 bid qty
    8 ask  9 ask qty  10 ltq  11 avg price, then
    F&O (23 fields): 12 OI  13 change in OI  14 volume (ttq) ... 21 ltt  22 close
    cash/index (21): 12 volume (ttq) ... 19 ltt  20 close

Every quote is complete (an index has ``None`` for bid/ask), so a missing field is NaN and
the chain keeps its last value. The connection, reconnect-with-backoff, resubscribe-everything,
staleness and snapshots are :class:`~optrunner.execution.brokers.live.chainfeed.ChainFeed`'s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any

from optrunner.execution.brokers.breeze.symbols import BreezeInstruments
from optrunner.execution.brokers.live.chain import LiveChain
from optrunner.execution.brokers.live.chainfeed import ChainFeed
from optrunner.execution.brokers.live.secrets import Secret

log = logging.getLogger(__name__)

#: quote field -> index in the ``stock`` list, per list length
_LAYOUT = {23: {"ltp": 2, "bid": 6, "bid_qty": 7, "ask": 8, "ask_qty": 9, "oi": 12, "volume": 14},
           21: {"ltp": 2, "bid": 6, "bid_qty": 7, "ask": 8, "ask_qty": 9, "volume": 12}}  # fmt: skip


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def parse_quote(data: Any) -> tuple[str, dict[str, float]] | None:
    """(stream key, fields) of one ``stock`` payload; None when it is not a quote we read."""
    if not isinstance(data, list) or not data or not isinstance(data[0], str) or "!" not in data[0]:
        return None
    layout = _LAYOUT.get(len(data))
    if layout is None or ".1!" not in data[0]:
        return None
    return data[0], {k: _num(data[i]) for k, i in layout.items()}


class BreezeFeed(ChainFeed):
    """The Breeze quote stream in its own thread (see the module docstring)."""

    name = "breeze-feed"

    def __init__(self, ws_root: str, user_id: str, session: Secret, instruments: BreezeInstruments,
                 chains: list[LiveChain], *, max_backoff: float = 5.0, stale_seconds: float = 5.0) -> None:  # fmt: skip
        super().__init__(ws_root.rstrip("/") + "/socket.io/?EIO=4&transport=websocket", chains,
                         max_backoff=max_backoff, stale_seconds=stale_seconds)  # fmt: skip
        self.user_id, self._session = user_id, session
        self._key_of = instruments.stream_keys()
        self._id_of = {k: t for t, k in self._key_of.items()}
        self._joined: Any = None  # the websocket the namespace connect went to
        self.pongs = 0
        self.unknown = 0  # quotes for keys no chain asked for
        self._odd_sizes: set[int] = set()

    async def _handshake(self, ws: Any, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):  # a server that never answers is a dropped connection
            await self._join(ws)
        self._joined = ws

    async def _join(self, ws: Any) -> None:
        opened = await ws.recv()
        if not isinstance(opened, str) or not opened.startswith("0"):
            raise ConnectionError(f"Breeze stream: expected an Engine.IO open packet, got {str(opened)[:40]!r}")
        await ws.send("40" + json.dumps({"user": self.user_id, "token": self._session.value}))
        while True:
            m = await ws.recv()
            if m == "2":
                await ws.send("3")
            elif isinstance(m, str) and m.startswith("40"):
                break
            elif isinstance(m, str) and m.startswith("44"):
                raise ConnectionError(f"Breeze stream refused the session ({m[2:][:200]}): an expired session "
                                      "needs a new login (optrunner broker login breeze)")  # fmt: skip

    async def _emit(self, ws: Any, event: str, tokens: set[int]) -> None:
        keys = [self._key_of[t] for t in sorted(tokens) if t in self._key_of]
        if keys:
            await ws.send("42" + json.dumps([event, keys]))

    async def _send_subscribe(self, ws: Any, tokens: set[int]) -> None:
        if self._joined is not ws:
            await self._handshake(ws)
        await self._emit(ws, "join", tokens)

    async def _send_unsubscribe(self, ws: Any, tokens: set[int]) -> None:
        await self._emit(ws, "leave", tokens)

    async def _on_message(self, ws: Any, msg: bytes | str) -> None:
        if not isinstance(msg, str):
            return
        if msg == "2":  # Engine.IO ping: an unanswered one makes the server drop us
            await ws.send("3")
            self.pongs += 1
            return
        if msg.startswith("41") or msg == "1":  # namespace / transport closed by the server
            raise ConnectionError("Breeze stream: the server closed the session")
        if not msg.startswith("42"):
            return
        try:
            event = json.loads(msg[2:])
        except ValueError:
            self.errors += 1
            log.warning("breeze feed: an event that is not JSON was ignored")
            return
        if not isinstance(event, list) or len(event) < 2 or event[0] != "stock":
            return
        quote = parse_quote(event[1])
        if quote is None:
            self.errors += 1
            size = len(event[1]) if isinstance(event[1], list) else -1
            if size not in self._odd_sizes:  # once per shape: a changed layout must be seen, not flood the log
                self._odd_sizes.add(size)
                log.warning("breeze feed: a stock event of %d fields (quotes have 21 or 23) was ignored", size)
            return
        key, fields = quote
        tok = self._id_of.get(key)
        if tok is None or math.isnan(fields["ltp"]):
            self.unknown += tok is None
            return
        await self._apply_quote(ws, tok, fields)


__all__ = ["BreezeFeed", "parse_quote"]
