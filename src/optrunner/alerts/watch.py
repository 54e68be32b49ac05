"""What the service sees, turned into alerts: the kernel's alerts classified into events
(kill switch, strategy halt, reconciliation mismatch, feed dead, ...), the service's own
states (feed failed or stale, recovery done, the session's close with a daily summary) and
seed 001's rules (``RuleEngine``, fed by the metrics' increments).

The API's publisher calls ``consume`` for each queued kernel event and ``poll`` every
100 ms — on the API's event loop, never the kernel's thread; ``poll`` only reads plain
attributes of the service (the daily summary takes the kernel's lock once a day).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from optrunner.alerts.model import Alert
from optrunner.alerts.router import AlertRouter
from optrunner.alerts.rules import RuleEngine
from optrunner.core.events import AlertEvent

if TYPE_CHECKING:
    from optrunner.live.service import TradingService

log = logging.getLogger(__name__)
_HALTED = re.compile(r"\bstrategy (\S+) halted\b")


def session_open(service: TradingService) -> bool:
    """True between the session's first input and its close (the feed is expected to deliver)."""
    node = service.node
    return bool(service.kernel.session_open and (node.inputs or node.resume_after is not None))


def classify(event: AlertEvent, strategies: list[str]) -> Alert | None:
    """The channel alert for one kernel alert; None for info-level ones (the dashboard has them)."""
    src, msg = event.source, event.message
    strategy = None
    if src.startswith("strategy:"):
        strategy = src.split(":", 1)[1]
    else:
        m = _HALTED.search(msg)
        if m and m.group(1) in strategies:
            strategy = m.group(1)
        else:
            strategy = next((n for n in strategies if msg.startswith(f"{n} ")), None)
    details: dict[str, Any] = {"source": src}
    if src.startswith("kill_switch:"):
        rule, title = "kill_switch", "Kill switch changed"
    elif "halted" in msg and strategy is not None and (src.startswith(("strategy:", "execution:")) or src == "halt"):
        rule, title = "strategy_halt", "Strategy halted"
        details["dedup"] = "halted"  # the runner, the order manager and the safety desk each say it once
    elif src == "reconcile" and event.level == "critical":
        rule, title = "reconciliation_mismatch", "Reconciliation mismatch"
    elif src.startswith("feed:"):
        rule, title = "feed_dead", "Market feed"
    elif event.level == "info":
        return None
    else:
        rule = src.split(":", 1)[0] or "kernel"
        title = {"account_risk": "Account risk limit", "flatten": "Flatten problem", "reconcile": "Reconciliation",
                 "execution": "Execution", "strategy": "Strategy error"}.get(rule, rule)  # fmt: skip
    return Alert(rule, event.level, title, msg, event.ts.astimezone(UTC), strategy, details)


class ServiceWatch:
    """Events and rules of one service, handed to a router; ``poll`` returns the alerts it
    raised itself (rules, feed, recovery, summary) for the WebSocket."""

    def __init__(self, service: TradingService, router: AlertRouter | None = None, *,
                 rules: RuleEngine | None = None, summary: Callable[[], dict[str, Any]] | None = None) -> None:  # fmt: skip
        self.service = service
        self.router = router or AlertRouter()
        self.rules = rules or RuleEngine()
        self.summary = summary
        self.settings = self.router.settings
        self._recovering = bool(getattr(service.node, "recovering", False))
        self._was_open = False
        self._stale = False
        self._failed = False
        self.raised: list[Alert] = []

    def consume(self, event: Any) -> None:
        if isinstance(event, AlertEvent):
            alert = classify(event, list(self.service.kernel.runner.strategies()))
            if alert is not None:
                self.router.submit(alert)

    def _raise(self, alert: Alert) -> None:
        self.raised.append(alert)
        self.router.submit(alert)

    def poll(self) -> list[Alert]:
        """Check the service's state and the rules; returns the alerts raised by this call."""
        self.raised = []
        s = self.service
        now = datetime.now(UTC)
        is_open = session_open(s)
        self.rules.feed(s.alive, is_open)
        if s.state == "failed" and not self._failed:
            self._failed = True
            self._raise(Alert("feed_dead", "critical", "Market feed failed", f"the replay stopped: {s.error}", now))
        age = s.last_tick_age()
        stale = is_open and s.state == "replaying" and age is not None and age > self.settings.feed_stale_seconds
        if stale and not self._stale:
            self._raise(Alert("feed_stale", "warning", "Market feed stale",
                              f"no market input for {age:.0f} s during the session", now))  # fmt: skip
        self._stale = stale
        if self._recovering and not getattr(s.node, "recovering", False):
            self._recovering = False
            node = s.node
            orphans = list(getattr(node, "orphans", []) or [])
            resumed = "the session start" if node.resume_after is None else f"{node.resume_after.isoformat()}"
            self._raise(Alert("recovery", "info", "Recovery done",
                              f"resumed after {resumed}; {len(node.possibly_sent)} order(s) possibly sent, "
                              f"{len(orphans)} not placed again", now,
                              details={"possibly_sent": list(node.possibly_sent), "orphans": orphans}))  # fmt: skip
        if self._was_open and not is_open and s.kernel.day is not None:
            self._daily_summary(now)
        self._was_open = is_open
        for alert in self.rules.evaluate():
            self._raise(alert)
        return self.raised

    def _daily_summary(self, now: datetime) -> None:
        if not self.settings.daily_summary or self.summary is None:
            return
        try:
            stats = self.summary()
        except Exception:  # a summary is a courtesy: never let it break the publisher
            log.exception("daily summary failed")
            return
        acct = stats.get("account", {})
        message = (f"{self.service.kernel.day}: day P&L {stats.get('day_pnl', 0.0):,.2f}, net {acct.get('net', 0.0):,.2f} "
                   f"(realised {acct.get('realized', 0.0):,.2f}, charges {acct.get('charges', 0.0):,.2f}); "
                   f"{stats.get('orders', 0)} orders, {stats.get('fills', 0)} filled, {stats.get('rejected', 0)} rejected")  # fmt: skip
        self._raise(Alert("daily_summary", "info", "Daily summary", message, now, details={"stats": stats}))
