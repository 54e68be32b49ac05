"""A live feed as the trading node's input: ``optrunner serve --feed ws://...``.

The node takes an iterable of chain snapshots (a catalog replay); a live feed pushes them
from its own threads. :class:`FeedSnapshots` runs one ``LiveFeedMarketAdapter`` (the
feed-protocol client, with its reconnects, validation and staleness watch) per underlying
the strategies trade, and turns their pushes back into an iterable: chains are yielded in
arrival order, stale-data events go to the kernel (strategies stop entering), feed alerts
are logged by the adapter. Iteration ends only when :meth:`stop` is called — a feed that
goes quiet is stale, not finished.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlsplit

from optrunner.core.clock import Clock
from optrunner.core.errors import UserError
from optrunner.core.events import ChainEvent, Event, StaleDataEvent
from optrunner.data.quality import DataQuality
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market.adapters.live_feed_market import LiveFeedMarketAdapter

log = logging.getLogger(__name__)


def check_feed_url(url: str) -> str:
    """``url`` when it is a ws:// or wss:// address with a host; else one clear error."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UserError(f"--feed {url!r} is not a feed address — write ws://HOST:PORT (optrunner feed serve prints it)")
    return url


class FeedSnapshots:
    """Chains of ``symbols`` from the feed at ``url``, as an iterable for ``TradingNode.run``."""

    def __init__(
        self,
        url: str,
        symbols: Sequence[str],
        *,
        clock: Clock | None = None,
        stale_after_seconds: float = 120.0,
        on_stale: Callable[[StaleDataEvent], None] | None = None,
    ) -> None:
        """``clock``: the session's (stale events are stamped with it); ``on_stale``: where
        stale-data events go (the kernel's ``on_stale``), called from the iterating thread."""
        self.url = check_feed_url(url)
        self.adapters = [LiveFeedMarketAdapter(url, s, clock=clock, stale_after_seconds=stale_after_seconds)
                         for s in symbols]  # fmt: skip
        self.quality = DataQuality()  # rows the adapters' data-quality door dropped (/metrics)
        for a in self.adapters:
            a.quality = self.quality
        self.on_stale = on_stale
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._stopping = threading.Event()

    @property
    def connected(self) -> bool:
        """Every underlying's connection is up."""
        return all(a.connected for a in self.adapters)

    def __iter__(self) -> Iterator[ChainSnapshot]:
        for adapter in self.adapters:
            adapter.start(self._queue.put)
        try:
            while not self._stopping.is_set():
                try:
                    event = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                if isinstance(event, ChainEvent):
                    yield event.snapshot
                elif isinstance(event, StaleDataEvent) and self.on_stale is not None:
                    self.on_stale(event)
        finally:
            self.stop()

    def stop(self) -> None:
        """End the iteration (from any thread) and close the connections."""
        self._stopping.set()
        for adapter in self.adapters:
            adapter.stop()
