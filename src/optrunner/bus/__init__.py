"""Redis Streams between the feed, the strategies, risk and the order gateways (scale-out).

``topics`` names the streams, ``messages`` holds their typed, versioned payloads, ``streams``
the producer and the consumer-group machinery (at-least-once, dedupe, autoclaim, DLQ).
One process (``optrunner run``/``serve``) needs none of it: the kernel's in-process bus
(``core/bus.py``) does the same job there. docs/deploy.md shows the picture.
"""

from optrunner.bus.topics import DEFAULT_RETENTION, Topics

__all__ = ["DEFAULT_RETENTION", "Topics"]
