"""The WebSocket's market and P&L messages (hub.py sends them): ``tick`` (the index's spot,
at most ``TICK_EVERY`` apart and only when it moved), ``bar`` (each bar as it closes, then
the bar still building whenever it changes; 1h by default) and ``pnl`` (account and
per-strategy P&L).

Read on the API's event loop, never on the kernel's thread: spot from the kernel's latest
snapshots (an immutable object per symbol), bars from the same source as ``GET /api/bars``
(the replayed minutes before the session time: no look-ahead).
"""

from __future__ import annotations

from typing import Any

from optrunner.api.views import UnknownSymbol, bars, performance
from optrunner.live.service import TradingService

TICK_EVERY = 0.1  # seconds between two ticks of a symbol: one per frame at most (the hub sends ~10 a second)
BAR_TIMEFRAME = "1h"


class MarketStream:
    """What changed since the last call, as (type, data) messages."""

    def __init__(self, service: TradingService, timeframe: str = BAR_TIMEFRAME) -> None:
        self.service = service
        self.timeframe = timeframe
        self._spot: dict[str, tuple[float, Any]] = {}
        self._closed_sent: dict[str, str] = {}  # symbol -> start of the last closed bar sent
        self._building: dict[str, dict[str, Any]] = {}

    def ticks(self) -> list[tuple[str, dict[str, Any]]]:
        try:
            latest = dict(self.service.kernel.latest)  # the kernel replaces entries, never mutates them
        except RuntimeError:  # resized while copied: next time
            return []
        out = []
        for symbol, snap in sorted(latest.items()):
            key = (snap.spot, snap.ts)
            if self._spot.get(symbol) != key:
                self._spot[symbol] = key
                out.append(("tick", {"symbol": symbol, "spot": snap.spot, "ts": snap.ts.isoformat()}))
        return out

    def bars(self) -> list[tuple[str, dict[str, Any]]]:
        try:
            b = bars(self.service, self.timeframe)
        except (UnknownSymbol, ValueError):
            return []
        if not b.symbol:
            return []
        out = []
        last_sent = self._closed_sent.get(b.symbol, "")
        for bar in b.bars:
            data = {"symbol": b.symbol, "timeframe": b.timeframe, **bar.model_dump(mode="json")}
            if bar.closed and data["ts"] > last_sent:
                out.append(("bar", data))
                self._closed_sent[b.symbol] = data["ts"]
            elif not bar.closed and self._building.get(b.symbol) != data:
                self._building[b.symbol] = data
                out.append(("bar", data))
        return out

    def pnl(self) -> tuple[str, dict[str, Any]]:
        p = performance(self.service)
        return "pnl", {"account": p.account.model_dump(mode="json"),
                       "strategies": [s.model_dump(mode="json") for s in p.strategies],
                       "day_pnl": p.day_pnl, "equity": p.equity, "drawdown": p.drawdown}  # fmt: skip
