"""Pick the market adapter a strategy's ``market_config`` asks for, by its exact ``market_type``.

The seed's users wrote "websocket" or "live_feed" and got a silent default; here anything
but the two exact names is a ValueError that lists them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optrunner.core.clock import Clock
from optrunner.market.adapters.database_market import ChainReplayAdapter, SeedDbPollingAdapter
from optrunner.market.adapters.live_feed_market import LiveFeedMarketAdapter
from optrunner.market.adapters.protocol import MarketAdapter

MARKET_TYPES = ("database_market", "live_feed_market")


def _required(config: Any, name: str, market_type: str) -> Any:
    value = getattr(config, name, None)
    if value in (None, ""):
        raise ValueError(f"market_config.{name} is required for market_type {market_type!r}")
    return value


def create_market_adapter(
    market_type: str,
    config: Any,
    *,
    poll_interval: float = 2.0,
    clock: Clock | None = None,
    **kw: Any,
) -> MarketAdapter:
    """An adapter for ``config`` (a ``MarketConfig``: symbol, exchange, db_path / feed_url,
    stale_after_seconds).

    database_market: ``db_path`` naming a folder is a Parquet catalog, replayed (``start``/
    ``end`` dates in ``kw``); naming a file, it is a seed chain DB polled every
    ``poll_interval`` seconds. live_feed_market: a WebSocket client of ``feed_url`` (other
    keyword arguments, e.g. ``seed`` or ``backoff_max``, go to ``LiveFeedMarketAdapter``).
    """
    if market_type not in MARKET_TYPES:
        raise ValueError(
            f"market_type {market_type!r} is not supported — use exactly one of: {', '.join(MARKET_TYPES)}"
        )
    symbol = _required(config, "symbol", market_type)
    exchange = getattr(config, "exchange", None) or "NFO"
    stale_after = float(getattr(config, "stale_after_seconds", None) or 120.0)
    if market_type == "database_market":
        db_path = Path(_required(config, "db_path", market_type))
        if db_path.is_dir():
            return ChainReplayAdapter.from_catalog(
                db_path, symbol, kw.pop("start", None), kw.pop("end", None), exchange=exchange, **kw
            )
        return SeedDbPollingAdapter(
            db_path, symbol, exchange=exchange, stale_after_seconds=stale_after,
            poll_interval=poll_interval, clock=clock, **kw,
        )  # fmt: skip
    feed_url = _required(config, "feed_url", market_type)
    return LiveFeedMarketAdapter(
        feed_url, symbol, exchange=exchange, stale_after_seconds=stale_after, clock=clock, **kw
    )
