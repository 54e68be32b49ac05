"""The feed service: a catalog day replayed onto ``market.chains`` (and ``market.ticks``).

Snapshots go out in time order across symbols, pipelined; a ``SessionEnd`` follows the
day. A restarted feed resumes after the last snapshot already on the stream, so a kill -9
of the feed duplicates nothing (consumers also skip a snapshot not newer than the last
they processed for its symbol).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

from optrunner.backtest.engine import merged_snapshots
from optrunner.bus import messages as m
from optrunner.bus.streams import FIELD, StreamBus
from optrunner.data.catalog import Catalog
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market.adapters.protocol import ticks_from_snapshot


def published_until(bus: StreamBus, day: date) -> tuple[datetime | None, bool]:
    """The newest snapshot time of ``day`` already on ``market.chains``, and whether its
    ``SessionEnd`` is there too (then the day is fully published)."""
    for _, fields in bus.client.xrevrange(bus.topics.key("market.chains"), count=1):
        msg = m.decode(fields[FIELD])
        if isinstance(msg, m.SessionEnd):
            return None, msg.day == day
        if isinstance(msg, m.Chain):
            return msg.ts, False
    return None, False


def replay_day(
    bus: StreamBus, catalog: Catalog, symbols: Sequence[str], day: date, *,
    ticks: bool = False, pace_ms: float = 0.0, chunk: int = 50,
) -> int:  # fmt: skip
    """Publish ``day`` of ``symbols``; returns how many snapshots were published now.
    ``ticks``: also every option's quote as a ``market.ticks`` entry (live-feed shape);
    ``pace_ms``: sleep between snapshots (a slower replay, e.g. to kill a service mid-day)."""
    after, done = published_until(bus, day)
    if done:
        return 0
    snaps: Iterable[ChainSnapshot] = merged_snapshots(catalog, symbols, day, day)
    if after is not None:
        snaps = (s for s in snaps if s.ts > after)
    n = 0
    for batch in _batches(snaps, 1 if pace_ms > 0 else chunk):
        bus.publish_many("market.chains", [m.Chain.of(s) for s in batch])
        if ticks:
            bus.publish_many("market.ticks", [m.Tick.of(t) for s in batch for t in all_ticks(s)])
        n += len(batch)
        if pace_ms > 0:
            time.sleep(pace_ms / 1000.0)
    bus.publish("market.chains", m.SessionEnd(day, sorted(symbols)))
    return n


def _batches(items: Iterable[ChainSnapshot], size: int) -> Iterator[list[ChainSnapshot]]:
    batch: list[ChainSnapshot] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def all_ticks(snapshot: ChainSnapshot) -> list:
    """The index and every option of the chain as ticks (what a live tick feed would send)."""
    ids = [snapshot.contract(i).id for i in range(len(snapshot))]
    return ticks_from_snapshot(snapshot, [snapshot.symbol, *ids])
