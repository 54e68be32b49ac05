"""One alert as the channels receive it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LEVELS = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class Alert:
    """``rule`` names what fired — a seed 001 rule (``orders_failed``) or an event
    (``kill_switch``, ``strategy_halt``, ...): dedup and rate limits are per rule (and
    strategy). ``strategy`` routes it to that strategy's own channels too."""

    rule: str
    level: str
    title: str
    message: str
    ts: datetime
    strategy: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What dedup and rate limits count by."""
        return self.rule if self.strategy is None else f"{self.rule}:{self.strategy}"

    def text(self) -> str:
        """One human line: Telegram's message and the e-mail's body start with it."""
        who = f" [{self.strategy}]" if self.strategy else ""
        return f"[{self.level.upper()}] {self.title}{who}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        """The webhook's body (and the dashboard's ``alert`` fields: ts, level, source, message)."""
        return {"ts": self.ts.isoformat(), "level": self.level, "rule": self.rule, "source": f"alerts:{self.rule}",
                "title": self.title, "message": self.message, "strategy": self.strategy,
                "details": self.details}  # fmt: skip
