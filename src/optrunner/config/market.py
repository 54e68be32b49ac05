"""``market_config``: where the strategy's option chain comes from."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from optrunner.config.base import (
    ChainSourcePath,
    ConfigModel,
    FeedUrl,
    PositiveNumber,
    one_of,
    show,
    suggest,
)
from optrunner.instruments import known_indices

MARKET_TYPES = ("database_market", "live_feed_market")
EXCHANGES = ("NFO", "BFO")

_MARKET_TYPE_HINTS = {
    wrong: "is not a market type — use live_feed_market"
    for wrong in ("websocket", "live_feed", "live", "live_market", "feed", "ws", "websocket_market")
} | {
    wrong: "is not a market type — use database_market"
    for wrong in ("database", "db", "sqlite", "db_market", "database_feed")
}
_EXCHANGE_HINTS = {
    "NSE": "is the cash market — NSE index options trade on NFO",
    "BSE": "is the cash market — BSE index options (SENSEX) trade on BFO",
} | {
    other: "is not supported yet — optrunner trades NSE/BSE index options: use NFO or BFO"
    for other in ("MCX", "NCDEX", "CDSL", "CDS", "BCD")
}


def _index_symbol(value: Any) -> str:
    """A symbol from the instruments data file (``optrunner.instruments.known_indices``)."""
    known = known_indices()
    if not isinstance(value, str):
        raise ValueError(f"{show(value)} is not an index symbol — one of: {', '.join(known)}")
    symbol = value.strip().upper()
    if symbol in known:
        return symbol
    close = suggest(symbol, known)
    tip = f"did you mean {close}? " if close else ""
    raise ValueError(f"{show(value)} is not a known index — {tip}known: {', '.join(known)}")


class MarketConfig(ConfigModel):
    """The option-chain source: a chain DB/catalog on disk, or a live websocket feed."""

    market_type: Annotated[
        Literal["database_market", "live_feed_market"],
        one_of(MARKET_TYPES, hints=_MARKET_TYPE_HINTS),
    ] = Field(
        "database_market",
        description=(
            "Which market adapter feeds the strategy: database_market reads an option-chain "
            "SQLite DB or Parquet catalog; live_feed_market listens to a websocket feed."
        ),
    )
    exchange: Annotated[
        Literal["NFO", "BFO"], one_of(EXCHANGES, hints=_EXCHANGE_HINTS, upper=True)
    ] = Field(
        description="Derivatives segment: NFO (NSE F&O) or BFO (BSE F&O). Must be the index's segment.",
        examples=["NFO"],
    )
    symbol: Annotated[str, BeforeValidator(_index_symbol)] = Field(
        description="Underlying index, e.g. NIFTY, BANKNIFTY, SENSEX (see instruments/data/indices.json).",
        examples=["NIFTY"],
    )
    db_path: ChainSourcePath | None = Field(
        None,
        description=(
            "database_market in the Python StrategyRunner: the seed-format option-chain SQLite file or "
            "an optrunner Parquet catalog folder (relative to the config file's folder). backtest, "
            "sweep and run read --data instead and do not need it."
        ),
        examples=["../data/NFO_NIFTY_sample.sqlite"],
    )
    feed_url: FeedUrl | None = Field(
        None,
        description="Required for live_feed_market: the ws:// or wss:// address of the chain feed.",
    )
    stale_after_seconds: PositiveNumber = Field(
        120,
        description="A chain snapshot older than this many seconds is stale: no new entries are made.",
    )
