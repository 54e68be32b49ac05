"""Market adapters: where a runner's events come from (replay, seed chain DB, WebSocket feed)."""

from optrunner.market.adapters.database_market import (
    ChainReplayAdapter,
    ReplayOrderError,
    SeedDbPollingAdapter,
)
from optrunner.market.adapters.factory import MARKET_TYPES, create_market_adapter
from optrunner.market.adapters.live_feed_market import LiveFeedMarketAdapter
from optrunner.market.adapters.protocol import AdapterStats, EventSink, MarketAdapter

__all__ = [
    "MARKET_TYPES",
    "AdapterStats",
    "ChainReplayAdapter",
    "EventSink",
    "LiveFeedMarketAdapter",
    "MarketAdapter",
    "ReplayOrderError",
    "SeedDbPollingAdapter",
    "create_market_adapter",
]
