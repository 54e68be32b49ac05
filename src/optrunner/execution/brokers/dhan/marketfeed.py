"""Dhan's Live Market Feed (v2 binary WebSocket, ``ws_root``, default wss://api-feed.dhan.co)
as a source of option chains.

Protocol (docs "Live Market Feed"): connect to ``{ws_root}?version=2&token=...&clientId=...
&authType=2`` (the credentials ride in the URL: there is no login message); subscribe with
JSON ``{"RequestCode": 15|17|21, "InstrumentCount": n, "InstrumentList": [{"ExchangeSegment":
"NSE_FNO", "SecurityId": "35001"}]}`` — ticker, quote, full; at most 100 instruments per
message — and unsubscribe with 16|18|22. Answers are binary packets
(:mod:`~optrunner.execution.brokers.dhan.ticks`).

Options are subscribed in *full* mode, the only one with best bid/ask (depth level 1); an
index has no depth, so its spot comes in *ticker* mode (``IDX_I``: NIFTY 13, BANKNIFTY 25).
A disconnect packet (code 50, with a reason such as 805 "too many connections" or 807
"token expired") closes the socket; the shared thread reconnects with backoff and
resubscribes everything, with the token of the latest login when a token store is given.
Rejected packets are counted (``bad_packets``), never raised.

The connection, reconnect-with-backoff, staleness and snapshot loop are
:class:`~optrunner.execution.brokers.live.chainfeed.ChainFeed`'s and the chain is
:class:`~optrunner.execution.brokers.live.chain.LiveChain`, fed through a token view of
Dhan's instruments (``segment << 32 | security id``). Dhan's order updates come on their
own socket (:mod:`.feed`), so this feed carries market data only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from optrunner.core.errors import UserError
from optrunner.execution.brokers.dhan.symbols import DhanInstrument
from optrunner.execution.brokers.dhan.ticks import REASONS, parse_frame, split_token, token
from optrunner.execution.brokers.live.chain import LiveChain, TokenView
from optrunner.execution.brokers.live.chainfeed import ChainFeed
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import TokenStore
from optrunner.instruments.contracts import OptionContract

log = logging.getLogger(__name__)

#: each underlying's index in segment IDX_I (security ids of Dhan's scrip master)
INDEX_IDS = {"NIFTY": 13, "BANKNIFTY": 25, "FINNIFTY": 27, "MIDCPNIFTY": 442, "SENSEX": 51, "BANKEX": 69}
TICKER, QUOTE, FULL = 15, 17, 21  # request codes; unsubscribing is the code + 1
BATCH = 100  # instruments per subscription message (documented maximum)


class ChainInstruments(TokenView):
    """The view of Dhan's instruments that :class:`LiveChain` reads (one int per instrument)."""

    def __init__(self, instruments: dict[OptionContract, DhanInstrument]) -> None:
        super().__init__({c: token(i.segment, i.security_id) for c, i in instruments.items() if i.security_id.isdigit()},
                         {u: token("IDX_I", sid) for u, sid in INDEX_IDS.items()})  # fmt: skip


def requests(tokens: set[int], subscribe: bool = True) -> list[dict[str, Any]]:
    """The JSON messages that (un)subscribe ``tokens``: indices in ticker mode, options in full
    mode, at most :data:`BATCH` per message, in a stable order."""
    out: list[dict[str, Any]] = []
    for code, group in ((TICKER, [t for t in tokens if t >> 32 == 0]), (FULL, [t for t in tokens if t >> 32])):
        names = [split_token(t) for t in sorted(group)]
        for i in range(0, len(names), BATCH):
            batch = names[i: i + BATCH]
            out.append({"RequestCode": code if subscribe else code + 1, "InstrumentCount": len(batch),
                        "InstrumentList": [{"ExchangeSegment": s, "SecurityId": sid} for s, sid in batch]})  # fmt: skip
    return out


class DhanMarketFeed(ChainFeed):
    """The Live Market Feed in its own thread (see the module docstring)."""

    name = "dhan-feed"

    def __init__(self, ws_root: str, client_id: str, access_token: Secret, chains: list[LiveChain], *,
                 on_order: Callable[[dict[str, Any]], None] | None = None, max_backoff: float = 5.0,
                 stale_seconds: float = 5.0, token_store: TokenStore | None = None) -> None:  # fmt: skip
        super().__init__(ws_root, chains, on_order=on_order, max_backoff=max_backoff, stale_seconds=stale_seconds)
        self.client_id, self._token = client_id, access_token
        self.token_store = token_store  # re-read at each (re)connection: a new login reaches the feed
        self.bad_packets = 0
        self.packets = 0
        self.disconnects: list[int] = []  # reason codes of the disconnect packets received

    def set_token(self, access_token: Secret) -> None:
        """After a re-login: the next (re)connection uses the new token."""
        self._token = access_token

    def _fresh_token(self) -> None:
        """The stored session's token when it is valid and new (an expired token, 807, would
        otherwise be retried all day after ``optrunner broker login dhan``)."""
        if self.token_store is None:
            return
        try:
            tok = self.token_store.load("dhan")
        except UserError as exc:
            log.warning("dhan feed: %s", exc)
            return
        if tok is not None and tok.valid() and tok.access_token != self._token:
            log.info("dhan feed: using the session stored by the last login")
            self._token = tok.access_token

    async def _connect(self) -> Any:
        import websockets

        self._fresh_token()
        query = urlencode({"version": 2, "token": self._token.value, "clientId": self.client_id, "authType": 2})
        sep = "&" if "?" in self.url else "?"
        return websockets.connect(f"{self.url}{sep}{query}", max_size=2**22, open_timeout=5)

    async def _send_subscribe(self, ws: Any, tokens: set[int]) -> None:
        for msg in requests(tokens):
            await ws.send(json.dumps(msg))

    async def _send_unsubscribe(self, ws: Any, tokens: set[int]) -> None:
        for msg in requests(tokens, subscribe=False):
            await ws.send(json.dumps(msg))

    async def _on_message(self, ws: Any, msg: bytes | str) -> None:
        if isinstance(msg, str):  # the feed answers in binary only
            self.errors += 1
            log.warning("dhan feed: a text message was ignored (%d chars)", len(msg))
            return
        parsed = parse_frame(msg)
        self.packets += parsed.packets
        if parsed.bad:
            self.bad_packets += parsed.bad
            log.warning("dhan feed: %d malformed packet(s) rejected (%d bytes)", parsed.bad, len(msg))
        if len(parsed.ticks):
            await self._apply(ws, parsed.ticks)
        if parsed.disconnects:
            self.disconnects.extend(parsed.disconnects)
            reason = parsed.disconnects[-1]
            raise ConnectionError(f"Dhan closed the feed: {reason} {REASONS.get(reason, 'unknown reason')}")


__all__ = ["INDEX_IDS", "ChainInstruments", "DhanMarketFeed", "requests"]
