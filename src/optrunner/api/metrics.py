"""Prometheus metrics for one service, in a registry of its own (never the global one: two apps
in one process — tests — must not share counters).

Counters are fed by :meth:`ServiceMetrics.consume`, which the API's publisher calls with the
events the kernel's observer queued (see ``TradingService.events``): nothing here runs on
the kernel's thread. Levels — positions, P&L, charges, the kill switch, bad-data drops —
are read from the kernel when Prometheus scrapes, under its lock.

Names follow seed 001 (``orders_placed_total``, ``orders_failed_total``,
``signals_generated_total``, ``entry_guard_*``, ``broker_api_errors_total`` and its alias
``dhanhq_api_errors_total``, the histograms in metrics_scrape.py); ours are prefixed
``optrunner_``. Every increment also goes to the ``sinks`` (the in-process alert rules).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from optrunner.api.metrics_scrape import Distributions
from optrunner.core.events import AlertEvent, FillEvent
from optrunner.live.service import OrderNote, TradingService
from optrunner.risk.kill_switch import TradingState

_SENT = frozenset({"SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED"})
_STATES = tuple(TradingState)
#: the order manager's counters that are broker API errors -> the ``status`` label
BROKER_ERRORS = {"rate_limited": "429", "unreachable": "unreachable", "ambiguous": "error"}


def reason_code(reason: str) -> str:
    """``"KILL_SWITCH_REDUCING: no entries"`` -> ``"KILL_SWITCH_REDUCING"``: a bounded label."""
    code = reason.split(":", 1)[0].strip().upper().replace(" ", "_")
    return code[:40] if code else "UNKNOWN"


class _Levels(Collector):
    """Scrape-time gauges read from the kernel."""

    def __init__(self, service: TradingService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        s = self.service
        k = s.kernel
        with s.lock:
            pf = k.portfolio
            positions = pf.positions()
            open_legs = GaugeMetricFamily("optrunner_open_positions", "Open legs by strategy", labels=["strategy"])
            by_strategy: dict[str, int] = {}
            for p in positions:
                by_strategy[p.strategy] = by_strategy.get(p.strategy, 0) + 1
            for name in k.runner.strategies():
                open_legs.add_metric([name], by_strategy.get(name, 0))
            mtm = GaugeMetricFamily("optrunner_pnl_unrealized_rupees", "Mark-to-market P&L of open legs")
            mtm.add_metric([], pf.unrealized)
            realized = GaugeMetricFamily("optrunner_pnl_realized_rupees", "Realised P&L (gross of charges)")
            realized.add_metric([], pf.realized)
            charges = GaugeMetricFamily("optrunner_charges_rupees", "Charges paid (brokerage, taxes, fees)")
            charges.add_metric([], pf.charges)
            state = k.risk.kill_switch.state
            working = sum(1 for _ in k.om.open_orders())
        switch = GaugeMetricFamily("optrunner_kill_switch_state", "1 for the kill switch's current state", labels=["state"])
        for st in _STATES:
            switch.add_metric([st.value], 1.0 if st is state else 0.0)
        work = GaugeMetricFamily("optrunner_working_orders", "Orders not yet in a terminal state")
        work.add_metric([], working)
        feed = GaugeMetricFamily("websocket_connected", "1 while the market feed (or replay) is delivering")
        feed.add_metric([], 1.0 if s.feed_connected else 0.0)
        yield from (open_legs, mtm, realized, charges, switch, work, feed)
        age = s.last_tick_age()
        if age is not None:
            g = GaugeMetricFamily("optrunner_last_tick_age_seconds", "Wall seconds since the last market input")
            g.add_metric([], age)
            yield g
        q = s.quality
        if q is not None:
            drops = GaugeMetricFamily("optrunner_bad_data_dropped", "Market data rows dropped, by reason", labels=["reason"])
            for reason, n in sorted(q.dropped.items()):
                drops.add_metric([reason], n)
            drops.add_metric(["stale_snapshot"], q.stale_snapshots)
            yield drops


class MetricSink(Protocol):
    """Something that wants every counter increment the service's metrics make — the
    in-process alert rules (``optrunner.alerts``) evaluate seed 001's rules on exactly
    what Prometheus sees."""

    def count(self, name: str, labels: dict[str, str], n: float) -> None: ...

    def buckets(self, name: str, labels: dict[str, str], bounds: tuple[float, ...], deltas: list[int]) -> None: ...


class ServiceMetrics:
    """The service's registry, its counters, and the sinks that see every increment."""

    def __init__(self, service: TradingService) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.sinks: list[MetricSink] = []
        r = self.registry
        self.orders_placed = Counter("orders_placed", "Orders sent to the broker", ["mode", "broker"], registry=r)
        self.orders_failed = Counter("orders_failed", "Orders rejected (by risk, the router or the broker)", ["reason"], registry=r)
        self.signals = Counter("signals_generated", "Order legs strategies asked for", ["strategy"], registry=r)
        self.signals_rejected = Counter("signals_rejected", "Strategies' order legs refused (risk, router, broker)",
                                        ["strategy", "reason"], registry=r)  # fmt: skip
        self.guard_passed = Counter("entry_guard_passed", "ENTRY legs that passed the pre-trade checks and went to the broker", registry=r)
        self.guard_rejected = Counter("entry_guard_rejected", "ENTRY legs refused before reaching the broker, by reason code",
                                      ["reason"], registry=r)  # fmt: skip
        self.broker_errors = Counter("broker_api_errors", "Broker API errors: 429 rate limited, unreachable, error (outcome unknown)",
                                     ["broker", "status"], registry=r)  # fmt: skip
        self.dhan_errors = Counter("dhanhq_api_errors", "broker_api_errors_total of the Dhan broker (seed 001's name)",
                                   ["status"], registry=r)  # fmt: skip
        self.fills = Counter("optrunner_fills", "Executions booked", ["strategy"], registry=r)
        self.alerts = Counter("optrunner_alerts", "Alerts raised", ["level"], registry=r)
        r.register(_Levels(service))
        r.register(Distributions(service))
        self._seen: set[str] = set()
        self._signals: set[str] = set()
        self._entries: set[str] = set()
        self._placed: set[str] = set()
        self._om_counts: dict[str, int] = {}
        self._eval_counts: dict[str, list[int]] = {}

    def _inc(self, counter: Counter, name: str, labels: dict[str, str]) -> None:
        if labels:
            counter.labels(**labels).inc()
        else:
            counter.inc()
        for sink in self.sinks:
            sink.count(name, labels, 1)

    def consume(self, event: Any) -> None:
        """One queued kernel event (an :class:`OrderNote`, a fill or an alert)."""
        if isinstance(event, OrderNote):
            self._order(event)
        elif isinstance(event, FillEvent):
            self.fills.labels(event.fill.strategy).inc()
        elif isinstance(event, AlertEvent):
            self.alerts.labels(event.level).inc()

    def _order(self, event: OrderNote) -> None:
        cid = event.client_id
        if cid not in self._seen:
            self._seen.add(cid)
            # a signal is a leg a strategy asked for: not a freeze slice, an unwind or a flatten
            if event.parent_id is None and event.tag != "UNWIND" and not event.leg.startswith("flatten:"):
                self._signals.add(cid)
                self._inc(self.signals, "signals_generated_total", {"strategy": event.strategy})
                if event.tag == "ENTRY":
                    self._entries.add(cid)
        if event.state in _SENT and cid not in self._placed:
            self._placed.add(cid)
            self._inc(self.orders_placed, "orders_placed_total", {"mode": self.service.mode, "broker": self.service.broker_name})
            if cid in self._entries:
                self._inc(self.guard_passed, "entry_guard_passed_total", {})
        elif event.state == "REJECTED":
            code = reason_code(event.reason)
            self._inc(self.orders_failed, "orders_failed_total", {"reason": code})
            if cid in self._signals:
                self._inc(self.signals_rejected, "signals_rejected_total", {"strategy": event.strategy, "reason": code})
            if cid in self._entries and cid not in self._placed:  # refused before the broker saw it
                self._inc(self.guard_rejected, "entry_guard_rejected_total", {"reason": code})

    def poll(self) -> None:
        """Counters the kernel keeps itself (the order manager's broker errors, the strategies'
        evaluation times), turned into increments since the last poll. Called by the hub
        every 100 ms and before a scrape; reads plain ints, takes no lock."""
        s = self.service
        counters = s.kernel.om.counters
        broker = s.broker_name
        for key, status in BROKER_ERRORS.items():
            now = counters.get(key, 0)
            delta = now - self._om_counts.get(key, 0)
            if delta <= 0:
                continue
            self._om_counts[key] = now
            self.broker_errors.labels(broker, status).inc(delta)
            if broker == "dhan":
                self.dhan_errors.labels(status).inc(delta)
            for sink in self.sinks:
                sink.count("broker_api_errors_total", {"broker": broker, "status": status}, delta)
        if not self.sinks:
            return
        for name, b in s.kernel.runner.evaluation_buckets().items():
            counts = list(b.counts)
            last = self._eval_counts.get(name)
            self._eval_counts[name] = counts
            deltas = counts if last is None else [c - p for c, p in zip(counts, last, strict=True)]
            if any(deltas):
                for sink in self.sinks:
                    sink.buckets("strategy_evaluation_duration_ms", {"strategy": name}, b.bounds, deltas)
