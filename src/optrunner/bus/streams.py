"""Producing to and consuming from Redis Streams with consumer groups.

Delivery is at-least-once: an entry stays in its group's pending list until its handler's
outputs and its XACK are committed together (one MULTI/EXEC), so a consumer killed at any
point leaves it pending, and a live member of the group takes it over with XAUTOCLAIM once
it has been idle ``claim_idle_ms``. Consumers are idempotent on top of that: a handler may
name a dedupe key for a message (a command's ``origin:seq``, an order's client id); a key
already committed is acknowledged without running the handler again, which absorbs a
producer that re-sends after its own restart. A message whose handler fails ``max_failures``
times is a poison message: it is copied whole to ``{group}.dlq``, acknowledged, and an alert
is logged (and handed to ``on_alert``), so one bad entry cannot wedge a group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from optrunner.bus.messages import DeadLetter, Msg, decode, encode, utc_now
from optrunner.bus.topics import Topics

log = logging.getLogger(__name__)

FIELD = b"m"  # every entry holds one field: the encoded message
DEFAULT_MAX_FAILURES = 3
DEFAULT_CLAIM_IDLE_MS = 5_000
DEDUPE_TTL_SECONDS = 7 * 24 * 3600  # dedupe keys older than this are forgotten


def connect(url: str) -> redis.Redis:
    """A client for ``url`` (``redis://host:port/db``) that has answered PING."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConnectionError(f"Redis at {url} does not answer: {exc}") from exc
    return client


class StreamBus:
    """Publishing to the topics of one deployment, each bounded by ``MAXLEN ~``."""

    def __init__(self, client: redis.Redis, topics: Topics) -> None:
        self.client = client
        self.topics = topics

    def publish(self, topic: str, msg: Msg) -> str:
        key = self.topics.key(topic)
        entry = self.client.xadd(key, {FIELD: encode(msg)}, maxlen=self.topics.retention(topic), approximate=True)
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def publish_many(self, topic: str, msgs: Iterable[Msg], *, chunk: int = 1000) -> list[str]:
        """Pipelined XADDs (one round trip per ``chunk``); returns the entry ids in order."""
        key, maxlen = self.topics.key(topic), self.topics.retention(topic)
        ids: list[str] = []
        pipe = self.client.pipeline(transaction=False)
        n = 0
        for msg in msgs:
            pipe.xadd(key, {FIELD: encode(msg)}, maxlen=maxlen, approximate=True)
            n += 1
            if n == chunk:
                ids.extend(i.decode() for i in pipe.execute())
                n = 0
        if n:
            ids.extend(i.decode() for i in pipe.execute())
        return ids

    def entry(self, topic: str, entry_id: str) -> Msg | None:
        """The message at ``entry_id`` (None when it was trimmed away)."""
        rows = self.client.xrange(self.topics.key(topic), entry_id, entry_id)
        return decode(rows[0][1][FIELD]) if rows else None

    def read_all(self, topic: str) -> list[tuple[str, Msg]]:
        """Every entry still in ``topic``, oldest first (tests, tools)."""
        rows = self.client.xrange(self.topics.key(topic))
        return [(i.decode(), decode(f[FIELD])) for i, f in rows]

    def reset(self) -> None:
        """Delete every key of this deployment (tests and a fresh replay)."""
        keys = list(self.client.scan_iter(match=f"{self.topics.namespace}:*", count=1000))
        if keys:
            self.client.delete(*keys)


@dataclass(slots=True)
class Delivery:
    """One entry handed to a handler. ``msg`` is None when the payload could not be decoded
    (``error`` says why); the consumer treats that as a failure of the handler."""

    topic: str
    entry_id: str
    payload: bytes
    msg: Msg | None
    error: str = ""
    redelivered: bool = False  # read again from a pending list (a crash, a failure, a claim)


@dataclass(slots=True)
class Outcome:
    """What a handler wants committed with the acknowledgement of its delivery."""

    publish: list[tuple[str, Msg]] = field(default_factory=list)
    dedupe_key: str | None = None
    apply: Callable[[Any], None] | None = None  # more writes in the same transaction (a pipeline)


Handler = Callable[[Delivery], Outcome | None]


class GroupConsumer:
    """One member (``consumer``) of consumer group ``group`` on ``topics``."""

    def __init__(
        self,
        bus: StreamBus,
        topics: Sequence[str],
        group: str,
        consumer: str,
        *,
        start: str = "0",
        max_failures: int = DEFAULT_MAX_FAILURES,
        claim_idle_ms: int = DEFAULT_CLAIM_IDLE_MS,
        dedupe: Callable[[Msg], str | None] | None = None,
        on_alert: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        """``start``: where a new group begins ("0": the whole retained stream, "$": new
        entries only); ``dedupe``: a message's idempotency key (None: not deduplicated)."""
        if max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, got {max_failures}")
        self.bus, self.client = bus, bus.client
        self.topics = list(topics)
        self.keys = {bus.topics.key(t): t for t in self.topics}
        self.group, self.consumer = group, consumer
        self.max_failures, self.claim_idle_ms = max_failures, claim_idle_ms
        self.dedupe, self.on_alert = dedupe, on_alert
        self.failures_key = bus.topics.state_key(f"{group}:failures")
        self.seen_key = bus.topics.state_key(f"{group}:seen")
        self.dead_letters = 0
        self.duplicates = 0
        self._own_pending = True  # re-read our own unacknowledged entries first (after a restart)
        self._last_claim = 0.0
        for key in self.keys:
            try:
                self.client.xgroup_create(key, group, id=start, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # --- reading -------------------------------------------------------------------------

    def poll(self, count: int = 500, block_ms: int | None = 100) -> list[Delivery]:
        """The next entries for this consumer: its own pending ones first (left by a crash or
        a failed handler), then entries idle in a dead member's pending list (XAUTOCLAIM, at
        most every ``claim_idle_ms / 2``), then new ones (blocking up to ``block_ms``)."""
        if self._own_pending:
            out = self._read("0", count, None)
            if out:
                return out
            self._own_pending = False
        now = time.monotonic()
        if (now - self._last_claim) * 1000 >= self.claim_idle_ms / 2:
            self._last_claim = now
            claimed = self.claim(count)
            if claimed:
                return claimed
        return self._read(">", count, block_ms)

    def _read(self, start: str, count: int, block_ms: int | None) -> list[Delivery]:
        rows = self.client.xreadgroup(self.group, self.consumer, {k: start for k in self.keys}, count=count, block=block_ms)
        out: list[Delivery] = []
        for key, entries in rows or ():
            topic = self.keys[key.decode() if isinstance(key, bytes) else key]
            out.extend(self._delivery(topic, i, f, start == "0") for i, f in entries if f)
        return out

    def claim(self, count: int = 500) -> list[Delivery]:
        """Take over entries another member left pending for ``claim_idle_ms`` (it died)."""
        out: list[Delivery] = []
        for key, topic in self.keys.items():
            start = "0-0"
            while True:
                nxt, entries, *_ = self.client.xautoclaim(key, self.group, self.consumer, self.claim_idle_ms, start, count=count)
                out.extend(self._delivery(topic, i, f, True) for i, f in entries if f)
                start = nxt.decode() if isinstance(nxt, bytes) else nxt
                if start == "0-0" or len(out) >= count:
                    break
        if out:
            log.warning("%s/%s claimed %d entries a dead consumer left pending", self.group, self.consumer, len(out))
            self._own_pending = True  # they are ours now; a failure leaves them in our list
        return out

    @staticmethod
    def _delivery(topic: str, entry_id: Any, fields: dict[bytes, bytes], again: bool) -> Delivery:
        eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        payload = fields.get(FIELD, b"")
        try:
            return Delivery(topic, eid, payload, decode(payload), redelivered=again)
        except ValueError as exc:
            return Delivery(topic, eid, payload, None, str(exc), redelivered=again)

    # --- handling ------------------------------------------------------------------------

    def seen(self, keys: Sequence[str]) -> list[bool]:
        if not keys:
            return []
        return [s is not None for s in self.client.zmscore(self.seen_key, list(keys))]

    def handle(self, deliveries: Sequence[Delivery], handler: Handler) -> int:
        """Run ``handler`` on each delivery in order and commit each outcome with its XACK.
        Returns how many were handled (duplicates and dead letters included)."""
        keys = [self.dedupe(d.msg) if (self.dedupe and d.msg is not None) else None for d in deliveries]
        known = dict(zip([k for k in keys if k], self.seen([k for k in keys if k]), strict=True))
        for i, (d, key) in enumerate(zip(deliveries, keys, strict=True)):
            if key is not None and known.get(key):
                self.duplicates += 1
                self.client.xack(self.bus.topics.key(d.topic), self.group, d.entry_id)
                continue
            try:
                if d.msg is None:
                    raise ValueError(d.error)
                outcome = handler(d) or Outcome()
            except Exception as exc:
                self._failed(d, exc)
                self._own_pending = True  # retried (it and those after it, in order) at the next poll
                return i + 1
            self.commit(d, outcome, key if outcome.dedupe_key is None else outcome.dedupe_key)
            if key is not None:
                known[key] = True
        return len(deliveries)

    def commit(self, d: Delivery, outcome: Outcome, key: str | None) -> None:
        """The outcome's messages, the dedupe key and the XACK in one transaction."""
        pipe = self.client.pipeline(transaction=True)
        topics = self.bus.topics
        for topic, msg in outcome.publish:
            pipe.xadd(topics.key(topic), {FIELD: encode(msg)}, maxlen=topics.retention(topic), approximate=True)
        if key is not None:
            pipe.zadd(self.seen_key, {key: time.time()})
        if outcome.apply is not None:
            outcome.apply(pipe)
        pipe.xack(topics.key(d.topic), self.group, d.entry_id)
        pipe.execute()

    def forget_old_keys(self) -> int:
        """Drop dedupe keys older than DEDUPE_TTL_SECONDS (services call it now and then)."""
        return int(self.client.zremrangebyscore(self.seen_key, 0, time.time() - DEDUPE_TTL_SECONDS))

    def _failed(self, d: Delivery, exc: Exception) -> None:
        n = int(self.client.hincrby(self.failures_key, f"{d.topic}:{d.entry_id}", 1))
        log.warning("%s/%s failed on %s %s (%d/%d): %r", self.group, self.consumer, d.topic, d.entry_id, n, self.max_failures, exc)
        if n < self.max_failures:
            return
        letter = DeadLetter(utc_now(), d.topic, d.entry_id, self.group, self.consumer, n, repr(exc), d.payload)
        topics = self.bus.topics
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(topics.dlq(self.group), {FIELD: encode(letter)}, maxlen=topics.retention("dlq"), approximate=True)
        pipe.xack(topics.key(d.topic), self.group, d.entry_id)
        pipe.hdel(self.failures_key, f"{d.topic}:{d.entry_id}")
        pipe.execute()
        self.dead_letters += 1
        log.error("ALERT %s: poison message %s %s moved to %s after %d failures: %r",
                  self.group, d.topic, d.entry_id, topics.dlq(self.group), n, exc)  # fmt: skip
        if self.on_alert is not None:
            self.on_alert(letter)

    def pending(self) -> int:
        """Entries delivered to the group and not acknowledged yet, over its topics."""
        return sum(int(self.client.xpending(k, self.group)["pending"]) for k in self.keys)

    def run_once(self, handler: Handler, *, count: int = 500, block_ms: int | None = 100) -> int:
        return self.handle(self.poll(count, block_ms), handler)


class MarketMarks:
    """The last ``market.chains`` entry a consumer group acted on, per symbol, kept in Redis
    with its acknowledgements: what a restarted member shows itself again (a service's
    durable state does not include the current market)."""

    def __init__(self, bus: StreamBus, group: str) -> None:
        self.bus = bus
        self.key = bus.topics.state_key(f"{group}:market")
        self.pending: dict[str, str] = {}

    def note(self, symbol: str, entry_id: str) -> None:
        self.pending[symbol] = entry_id

    def write(self, pipe: Any) -> None:
        """Add the noted marks to a transaction (a handler's ``Outcome.apply``)."""
        if self.pending:
            pipe.hset(self.key, mapping=self.pending)
            self.pending = {}

    def load(self) -> list[Any]:
        """The marked chains (``messages.Chain``), oldest first; trimmed ones are left out."""
        ids = [v.decode() for v in self.bus.client.hvals(self.key)]
        chains = [c for c in (self.bus.entry("market.chains", i) for i in ids) if c is not None]
        return sorted(chains, key=lambda c: c.ts)  # type: ignore[attr-defined]
