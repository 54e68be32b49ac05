"""Stream names and their retention.

Market topics are shared by every broker; signal, order and P&L topics are per broker
(``paper.signals.raw``), so one gateway per broker reads only its own. Every consumer
group has its own dead-letter stream ``{group}.dlq``. A ``namespace`` prefixes every key
(``optrunner:market.ticks``) so several deployments, or tests, can share one Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Approximate MAXLEN per topic (XADD ... MAXLEN ~ N). Redis trims whole macro-nodes, so a
#: stream holds at least N entries. Ticks: ~1 minute of a busy full-chain feed (3 indices x
#: ~400 contracts x 1-2 ticks/s); chains: a full session of 1-second snapshots of 3 indices;
#: signals/orders/fills: far more than a day of trading, so a restarted consumer never
#: finds its unread entries trimmed. The DLQ keeps the last 10,000 poison messages.
DEFAULT_RETENTION: dict[str, int] = {
    "market.ticks": 100_000,
    "market.chains": 100_000,
    "market.bars": 100_000,
    "signals.raw": 1_000_000,
    "signals.validated": 1_000_000,
    "signals.rejected": 1_000_000,
    "orders.submitted": 1_000_000,
    "orders.updates": 1_000_000,
    "orders.fills": 1_000_000,
    "pnl.snapshots": 100_000,
    "dlq": 10_000,
}

MARKET_TOPICS = ("market.ticks", "market.chains", "market.bars")
BROKER_TOPICS = (
    "signals.raw", "signals.validated", "signals.rejected",
    "orders.submitted", "orders.updates", "orders.fills", "pnl.snapshots",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Topics:
    """The stream keys of one deployment (``namespace``) for one broker."""

    broker: str = "paper"
    namespace: str = "optrunner"

    def key(self, topic: str) -> str:
        """``market.ticks`` -> ``optrunner:market.ticks``; ``signals.raw`` -> ``optrunner:paper.signals.raw``."""
        if topic in MARKET_TOPICS or topic.endswith(".dlq"):
            return f"{self.namespace}:{topic}"
        if topic in BROKER_TOPICS:
            return f"{self.namespace}:{self.broker}.{topic}"
        raise ValueError(f"unknown topic {topic!r}; known: {', '.join(MARKET_TOPICS + BROKER_TOPICS)} or <group>.dlq")

    def dlq(self, group: str) -> str:
        return self.key(f"{group}.dlq")

    def state_key(self, name: str) -> str:
        """A plain (non-stream) key of this deployment, e.g. a consumer's processed-id set."""
        return f"{self.namespace}:{self.broker}:{name}"

    @staticmethod
    def retention(topic: str) -> int:
        if topic.endswith(".dlq"):
            return DEFAULT_RETENTION["dlq"]
        return DEFAULT_RETENTION[topic]
