"""Seed 001's alert rules, evaluated in-process over sliding windows of wall time.

The engine is a :class:`optrunner.api.metrics.MetricSink`: it sees every increment the
service's Prometheus counters make (same names, same labels), so a rule here fires on the
same data as its twin in ``deploy/prometheus/alerts.yml`` — each rule carries that file's
PromQL (``expr``), and a test checks the two agree. A rule fires once when its condition
becomes true and sends a ``resolved`` note when it stops being true; the router adds dedup
and rate limits on top.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from optrunner.alerts.model import Alert
from optrunner.core.buckets import quantile

MISSING_DATA = frozenset({"STALE_DATA", "NO_QUOTE"})  # reason codes of seed 001's "missing_data"


@dataclass(frozen=True, slots=True)
class CountRule:
    """More than ``threshold`` increments of ``metric`` (labels in ``match``) within ``window`` seconds."""

    name: str
    alert: str  # the Prometheus alert's name
    level: str
    title: str
    metric: str
    threshold: float
    window: float
    expr: str
    match: dict[str, frozenset[str]] = field(default_factory=dict)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) in allowed for k, allowed in self.match.items())


@dataclass(frozen=True, slots=True)
class QuantileRule:
    """The ``q`` quantile of a histogram's observations within ``window`` seconds above ``threshold``."""

    name: str
    alert: str
    level: str
    title: str
    metric: str
    q: float
    threshold: float
    window: float
    expr: str


@dataclass(frozen=True, slots=True)
class DownRule:
    """The market feed not delivering, during the session, for ``for_seconds``."""

    name: str
    alert: str
    level: str
    title: str
    for_seconds: float
    expr: str


Rule = CountRule | QuantileRule | DownRule

RULES: tuple[Rule, ...] = (
    CountRule("orders_failed", "OrdersFailing", "critical", "Orders failing", "orders_failed_total", 5, 300,
              "sum(increase(orders_failed_total[5m])) > 5"),
    DownRule("feed_down", "FeedDisconnected", "critical", "Market feed disconnected", 120,
             "websocket_connected == 0 and on() optrunner_session_open == 1"),
    CountRule("rate_limited", "BrokerRateLimited", "critical", "Broker rate limit hit", "broker_api_errors_total", 3, 60,
              'sum(increase(broker_api_errors_total{status="429"}[1m])) > 3', {"status": frozenset({"429"})}),
    CountRule("missing_data", "MissingDataRejections", "warning", "Signals rejected for missing data",
              "signals_rejected_total", 10, 600,
              'sum(increase(signals_rejected_total{reason=~"STALE_DATA|NO_QUOTE"}[10m])) > 10', {"reason": MISSING_DATA}),
    CountRule("insufficient_capital", "InsufficientCapital", "warning", "Entries refused for insufficient capital",
              "entry_guard_rejected_total", 5, 3600,
              'sum(increase(entry_guard_rejected_total{reason="INSUFFICIENT_CAPITAL"}[1h])) > 5',
              {"reason": frozenset({"INSUFFICIENT_CAPITAL"})}),
    QuantileRule("evaluation_slow", "SlowStrategyEvaluation", "warning", "Strategy evaluation slow",
                 "strategy_evaluation_duration_ms", 0.99, 5000, 300,
                 "histogram_quantile(0.99, sum by (le) (rate(strategy_evaluation_duration_ms_bucket[5m]))) > 5000"),
)  # fmt: skip


class RuleEngine:
    """Sliding windows per rule; ``evaluate()`` returns the alerts that changed state.

    ``clock`` is monotonic seconds (tests pass their own), ``wall`` stamps the alerts."""

    def __init__(self, rules: tuple[Rule, ...] = RULES, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.rules = rules
        self.clock = clock
        self.wall = wall
        self._counts: dict[str, deque[tuple[float, float]]] = {r.name: deque() for r in rules}
        self._buckets: dict[str, deque[tuple[float, tuple[float, ...], list[int]]]] = {r.name: deque() for r in rules}
        self._down_since: float | None = None
        self.firing: set[str] = set()

    # --- MetricSink --------------------------------------------------------------------------

    def count(self, name: str, labels: dict[str, str], n: float) -> None:
        now = self.clock()
        for r in self.rules:
            if isinstance(r, CountRule) and r.metric == name and r.matches(labels):
                self._counts[r.name].append((now, n))

    def buckets(self, name: str, labels: dict[str, str], bounds: tuple[float, ...], deltas: list[int]) -> None:
        now = self.clock()
        for r in self.rules:
            if isinstance(r, QuantileRule) and r.metric == name:
                self._buckets[r.name].append((now, bounds, list(deltas)))

    def feed(self, connected: bool, session_open: bool) -> None:
        """The feed's state now (the hub calls this every 100 ms)."""
        if connected or not session_open:
            self._down_since = None
        elif self._down_since is None:
            self._down_since = self.clock()

    # --- evaluation ------------------------------------------------------------------------------

    def value(self, rule: Rule) -> float:
        """The rule's measured value now: a count in its window, a quantile in ms, seconds down."""
        now = self.clock()
        if isinstance(rule, CountRule):
            q = self._counts[rule.name]
            while q and q[0][0] <= now - rule.window:
                q.popleft()
            return float(sum(n for _, n in q))
        if isinstance(rule, QuantileRule):
            b = self._buckets[rule.name]
            while b and b[0][0] <= now - rule.window:
                b.popleft()
            if not b:
                return math.nan
            bounds = b[0][1]
            total = [0] * (len(bounds) + 1)
            for _, _, deltas in b:
                total = [a + d for a, d in zip(total, deltas, strict=True)]
            return quantile(rule.q, bounds, total)
        return 0.0 if self._down_since is None else now - self._down_since

    def active(self, rule: Rule) -> bool:
        v = self.value(rule)
        if isinstance(rule, DownRule):
            return self._down_since is not None and v >= rule.for_seconds
        return not math.isnan(v) and v > rule.threshold

    def evaluate(self) -> list[Alert]:
        """Alerts for rules that started or stopped firing since the last call."""
        out = []
        for r in self.rules:
            on = self.active(r)
            if on and r.name not in self.firing:
                self.firing.add(r.name)
                out.append(Alert(r.name, r.level, r.title, self._describe(r), self.wall(),
                                 details={"alert": r.alert, "value": self.value(r), "expr": r.expr}))  # fmt: skip
            elif not on and r.name in self.firing:
                self.firing.discard(r.name)
                out.append(Alert(r.name, "info", f"{r.title}: resolved", "back below the threshold", self.wall(),
                                 details={"alert": r.alert, "resolved": True}))  # fmt: skip
        return out

    def _describe(self, r: Rule) -> str:
        v = self.value(r)
        if isinstance(r, CountRule):
            return f"{v:g} in the last {_span(r.window)} (alert above {r.threshold:g}): {r.expr}"
        if isinstance(r, QuantileRule):
            return f"p{r.q * 100:g} {v:,.0f} ms over the last {_span(r.window)} (alert above {r.threshold:,.0f} ms)"
        return f"no market data for {v:.0f} s during the session (alert after {r.for_seconds:.0f} s)"

    def state(self) -> list[dict[str, Any]]:
        """Each rule, its current value and whether it fires (for the docs and the API)."""
        return [{"rule": r.name, "alert": r.alert, "level": r.level, "value": self.value(r),
                 "firing": r.name in self.firing, "expr": r.expr} for r in self.rules]  # fmt: skip


def _span(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
