"""The in-process message bus: topic -> subscribers, synchronous and ordered.

Scale-out deployments swap it for the Redis Streams backend (``optrunner.bus``) with the
same publish/subscribe shape; in one process a list of callables is all it needs to be.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class MessageBus:
    def __init__(self) -> None:
        self._subs: dict[str, list[Handler]] = defaultdict(list)
        self.errors = 0

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._subs[topic].append(handler)

    def unsubscribe(self, topic: str, handler: Handler) -> None:
        if handler in self._subs.get(topic, ()):
            self._subs[topic].remove(handler)

    def publish(self, topic: str, message: Any) -> None:
        """Deliver to every subscriber in order; one failing subscriber does not starve the rest."""
        for handler in self._subs.get(topic, ()):
            try:
                handler(message)
            except Exception:
                self.errors += 1
                log.exception("bus subscriber %r failed on topic %s", handler, topic)

    def topics(self) -> list[str]:
        return sorted(t for t, hs in self._subs.items() if hs)
