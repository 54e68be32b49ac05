"""Live option chains from Kite Ticker: binary frames parsed by ticks.py (``websockets``, not the
SDK's Twisted client — see ticks.py for why) into :class:`~..live.chain.LiveChain` s; text
messages are order updates for ``on_order`` (the :class:`~.orders.KiteBroker`). Connection,
reconnect, resubscribe, staleness and snapshots are :class:`~..live.chainfeed.ChainFeed`'s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from optrunner.execution.brokers.kite.ticks import TickParseError, parse_frame
from optrunner.execution.brokers.live.chain import LiveChain
from optrunner.execution.brokers.live.chainfeed import ChainFeed

log = logging.getLogger(__name__)


class KiteTickerFeed(ChainFeed):
    """The ticker connection in its own thread: Kite's subscribe/mode messages and binary frames."""

    name = "kite-ticker"

    def __init__(self, ws_root: str, api_key: str, access_token: str, chains: list[LiveChain], *,
                 on_order: Callable[[dict[str, Any]], None] | None = None, mode: str = "full",
                 max_backoff: float = 5.0, stale_seconds: float = 5.0) -> None:  # fmt: skip
        super().__init__(f"{ws_root}?api_key={api_key}&access_token={access_token}", chains, on_order=on_order,
                         max_backoff=max_backoff, stale_seconds=stale_seconds)  # fmt: skip
        self.mode = mode

    async def _send_subscribe(self, ws: Any, tokens: set[int]) -> None:
        if tokens:
            v = sorted(tokens)
            await ws.send(json.dumps({"a": "subscribe", "v": v}))
            await ws.send(json.dumps({"a": "mode", "v": [self.mode, v]}))

    async def _send_unsubscribe(self, ws: Any, tokens: set[int]) -> None:
        await ws.send(json.dumps({"a": "unsubscribe", "v": sorted(tokens)}))

    async def _on_message(self, ws: Any, msg: bytes | str) -> None:
        if isinstance(msg, str):
            if self.on_order is not None:
                try:
                    self.on_order(json.loads(msg))
                except ValueError:
                    log.warning("kite ticker: a text message that is not JSON was ignored")
            return
        try:
            ticks = parse_frame(msg)
        except TickParseError as exc:
            self.errors += 1
            log.warning("kite ticker: %s", exc)
            return
        if len(ticks):
            await self._apply(ws, ticks)
        else:
            self.frames += 1  # a heartbeat frame


__all__ = ["KiteTickerFeed"]
