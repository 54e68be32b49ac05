"""Shoonya market data and order updates over the Noren WebSocket (``ws_root``, JSON messages).

Protocol (NorenOMS WebSocket API): send ``{"t": "c", uid, actid, susertoken, source}`` and
wait for ``{"t": "ck", "s": "OK"}``; subscribe order updates with ``{"t": "o", actid}``
(pushed as ``"om"``) and touchline quotes with ``{"t": "t", "k": "NFO|35001#NSE|26000"}``
(a full ``"tk"`` first, then ``"tf"`` with only the fields that changed); ``{"t": "u"}``
unsubscribes. Touchline carries ``lp`` (last price), ``bp1``/``sp1`` and ``bq1``/``sq1`` (best
bid/ask and sizes), ``v`` and ``oi``.

The connection, reconnect-with-backoff, resubscribe-everything, staleness and snapshot loop
are :class:`~optrunner.execution.brokers.live.chainfeed.ChainFeed`'s (this class overrides
only the wire format), and the chain — ATM ± N strikes re-centred as spot moves, greeks from
our engine — is :class:`~optrunner.execution.brokers.live.chain.LiveChain`, fed through a
token view of Shoonya's instruments. Order updates go to :meth:`ShoonyaBroker.on_order_update`,
where the shared skeleton de-duplicates them against the polled order book.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from optrunner.execution.brokers.live.chain import LiveChain, TokenView
from optrunner.execution.brokers.live.chainfeed import ChainFeed
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.shoonya.symbols import ShoonyaInstrument
from optrunner.instruments.contracts import OptionContract

log = logging.getLogger(__name__)

#: the index quote of each underlying (exchange|token in NorenOMS)
INDEX_KEYS = {"NIFTY": "NSE|26000", "BANKNIFTY": "NSE|26009", "FINNIFTY": "NSE|26037", "MIDCPNIFTY": "NSE|26074"}
#: chain rows are keyed by int tokens; an index gets a negative one so it never meets an NFO token
SPOT_IDS = {und: -(i + 1) for i, und in enumerate(INDEX_KEYS)}
_FIELDS = {"lp": "ltp", "bp1": "bid", "sp1": "ask", "bq1": "bid_qty", "sq1": "ask_qty", "v": "volume", "oi": "oi"}


class ChainInstruments(TokenView):
    """The view of Shoonya's instruments that :class:`LiveChain` reads (tokens as ints)."""

    def __init__(self, instruments: dict[OptionContract, ShoonyaInstrument]) -> None:
        super().__init__({c: int(i.token) for c, i in instruments.items() if i.token.isdigit()}, SPOT_IDS)


def key_of(token: int) -> str:
    """``NFO|35001`` for an option token, the index key for a spot id."""
    if token < 0:
        return next(INDEX_KEYS[u] for u, t in SPOT_IDS.items() if t == token)
    return f"NFO|{token}"


def token_of(exchange: str, token: str) -> int | None:
    key = f"{exchange}|{token}"
    for und, k in INDEX_KEYS.items():
        if k == key:
            return SPOT_IDS[und]
    return int(token) if exchange == "NFO" and token.isdigit() else None


class ShoonyaFeed(ChainFeed):
    """The Noren WebSocket in its own thread (see the module docstring)."""

    name = "shoonya-feed"

    def __init__(self, ws_root: str, uid: str, actid: str, session: Secret, chains: list[LiveChain], *,
                 on_order: Callable[[dict[str, Any]], None] | None = None, max_backoff: float = 5.0,
                 stale_seconds: float = 5.0) -> None:  # fmt: skip
        # the documented endpoint ends in a slash (settings strip it)
        super().__init__(ws_root.rstrip("/") + "/", chains, on_order=on_order, max_backoff=max_backoff,
                         stale_seconds=stale_seconds)  # fmt: skip
        self.uid, self.actid, self._session = uid, actid, session
        self._last: dict[int, dict[str, float]] = {}  # token -> last known touchline fields
        self._logged_in: Any = None  # the websocket the connect message went to

    async def _send_subscribe(self, ws: Any, tokens: set[int]) -> None:
        if self._logged_in is not ws:
            await ws.send(json.dumps({"t": "c", "uid": self.uid, "actid": self.actid,
                                      "susertoken": self._session.value, "source": "API"}))  # fmt: skip
            ack = json.loads(await ws.recv())
            if ack.get("t") != "ck" or str(ack.get("s", "")).upper() != "OK":
                raise ConnectionError(f"Noren WebSocket refused the session: {ack.get('s')!r}")
            self._logged_in = ws
            await ws.send(json.dumps({"t": "o", "actid": self.actid}))  # order updates (used once on_order is set)
        if tokens:
            await ws.send(json.dumps({"t": "t", "k": "#".join(key_of(t) for t in sorted(tokens))}))

    async def _send_unsubscribe(self, ws: Any, tokens: set[int]) -> None:
        await ws.send(json.dumps({"t": "u", "k": "#".join(key_of(t) for t in sorted(tokens))}))

    async def _on_message(self, ws: Any, msg: bytes | str) -> None:
        try:
            m = json.loads(msg)
        except ValueError:
            self.errors += 1
            log.warning("shoonya feed: a message that is not JSON was ignored")
            return
        kind = m.get("t") if isinstance(m, dict) else None
        if kind == "om":
            if self.on_order is not None:
                self.on_order(m)
            return
        if kind not in ("tk", "tf"):
            return
        tok = token_of(str(m.get("e", "")), str(m.get("tk", "")))
        if tok is None:
            return
        last = self._last.setdefault(tok, {})
        for src, dst in _FIELDS.items():
            if src in m:
                try:
                    last[dst] = float(m[src])
                except (TypeError, ValueError):
                    self.errors += 1
        if "ltp" not in last:
            return  # no price yet: nothing a chain can use
        await self._apply_quote(ws, tok, last)

__all__ = ["INDEX_KEYS", "ChainInstruments", "ShoonyaFeed", "key_of", "token_of"]
