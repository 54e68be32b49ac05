"""The MarketAdapter protocol: where a runner's market events come from.

Every source — a Parquet catalog replayed for a backtest, the seed platform's live SQLite
chain file, a WebSocket feed, later a broker's feed — is one of these. Replay is a plain
iterator (``events()``); live sources push into a sink from their own thread
(``start(sink)`` / ``stop()``). ``get_market_snapshot()`` keeps the seed's dict shape for
code written against the old adapters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from optrunner.core.events import Event, TickEvent
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract

EventSink = Callable[[Event], None]
_TICK_FIELDS = ("bid", "ask", "bid_qty", "ask_qty", "volume", "oi")  # TickEvent's order after ltp


@runtime_checkable
class MarketAdapter(Protocol):
    market_type: str
    symbol: str

    @property
    def source_key(self) -> tuple[str, ...]:
        """Identifies the data source: two adapters with one key deliver the same events."""
        ...

    @property
    def is_live(self) -> bool:
        """True when events arrive by ``start(sink)``; False for a finite replay via ``events()``."""
        ...

    def subscribe(self, instruments: Iterable[str]) -> None:
        """Also deliver TickEvents for these instruments (canonical option ids or the index symbol)."""
        ...

    def events(self) -> Iterator[Event]: ...
    def start(self, sink: EventSink) -> None: ...
    def stop(self) -> None: ...
    def get_market_snapshot(self) -> dict[str, Any]: ...
    def stats(self) -> dict[str, int]: ...


@dataclass(slots=True)
class AdapterStats:
    """Counters every adapter keeps (``stats()`` returns them as a dict).

    snapshots: chains delivered; ticks: ticks delivered; stale: StaleDataEvents raised;
    rejected: snapshots/messages refused (malformed, out of order); errors: read/connection
    failures; reconnects: successful re-connections after a drop.
    """

    snapshots: int = 0
    ticks: int = 0
    stale: int = 0
    rejected: int = 0
    errors: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def seed_snapshot_dict(
    snapshot: ChainSnapshot | None, *, symbol: str, exchange: str, stale: bool
) -> dict[str, Any]:
    """The seed's ``get_market_snapshot()`` dict for ``snapshot`` (an empty chain when None).

    Keys: option_chain (row dicts), symbol, exchange, spot_price, expiry (nearest expiry in
    the chain), count, snapshot_ts, stale.
    """
    if snapshot is None:
        return {
            "option_chain": [], "symbol": symbol, "exchange": exchange, "spot_price": math.nan,
            "expiry": None, "count": 0, "snapshot_ts": None, "stale": True,
        }  # fmt: skip
    expiries = snapshot.expiries()
    return {
        "option_chain": snapshot.to_rows(),
        "symbol": snapshot.symbol,
        "exchange": exchange,
        "spot_price": snapshot.spot,
        "expiry": expiries[0] if expiries else None,
        "count": len(snapshot),
        "snapshot_ts": snapshot.ts,
        "stale": stale,
    }


@lru_cache(maxsize=4096)
def _contract(instrument: str) -> OptionContract | None:
    """The option an instrument id names, or None for an index symbol ("NIFTY")."""
    return OptionContract.from_id(instrument) if ":" in instrument else None


def check_instrument(instrument: str) -> str:
    """``instrument`` if it is an index symbol or a canonical option id; ValueError otherwise."""
    if not isinstance(instrument, str) or not instrument:
        raise ValueError(
            f"{instrument!r} is not an instrument (an index symbol or UNDERLYING:YYYYMMDD:STRIKE:CE|PE)"
        )
    _contract(instrument)
    return instrument


def ticks_from_snapshot(snapshot: ChainSnapshot, instruments: Iterable[str]) -> list[TickEvent]:
    """Ticks the chain implies for ``instruments``: the index at spot, options from their rows.

    Instruments of another underlying, contracts the chain does not carry, and rows without
    a positive last price give no tick (there is no trade price to report).
    """
    ts, symbol = snapshot.ts, snapshot.symbol
    out: list[TickEvent] = []
    for instrument in instruments:
        contract = _contract(instrument)
        if contract is None:
            if instrument == symbol and snapshot.spot > 0.0:
                out.append(TickEvent(ts, instrument, snapshot.spot))
            continue
        i = snapshot.index_of(contract)
        if i is None:
            continue
        ltp = float(snapshot.ltp[i])
        if not ltp > 0.0:
            continue
        quote = [float(getattr(snapshot, name)[i]) for name in _TICK_FIELDS]
        out.append(TickEvent(ts, instrument, ltp, *quote))
    return out
