"""Prometheus metrics for one service, in a registry of its own (never the global one: two apps
in one process — tests — must not share counters).

Counters are fed by :meth:`ServiceMetrics.consume`, which the API's publisher calls with the
events the kernel's observer queued (see ``TradingService.events``): nothing here runs on
the kernel's thread. Levels — positions, P&L, charges, the kill switch, bad-data drops —
are read from the kernel when Prometheus scrapes, under its lock.

Names follow seed 001 (``orders_placed_total``, ``orders_failed_total``,
``signals_generated_total``); ours are prefixed ``optrunner_``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from optrunner.core.events import AlertEvent, FillEvent
from optrunner.live.service import OrderNote, TradingService
from optrunner.risk.kill_switch import TradingState

_SENT = frozenset({"SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED"})
_STATES = tuple(TradingState)


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


class ServiceMetrics:
    """The service's registry and its counters."""

    def __init__(self, service: TradingService) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.orders_placed = Counter("orders_placed", "Orders sent to the broker", ["mode", "broker"], registry=r)
        self.orders_failed = Counter("orders_failed", "Orders rejected (by risk, the router or the broker)", ["reason"], registry=r)
        self.signals = Counter("signals_generated", "Order legs strategies asked for", ["strategy"], registry=r)
        self.signals_rejected = Counter("signals_rejected", "Strategies' order legs refused (risk, router, broker)",
                                        ["strategy", "reason"], registry=r)  # fmt: skip
        self.fills = Counter("optrunner_fills", "Executions booked", ["strategy"], registry=r)
        self.alerts = Counter("optrunner_alerts", "Alerts raised", ["level"], registry=r)
        r.register(_Levels(service))
        self._seen: set[str] = set()
        self._signals: set[str] = set()
        self._placed: set[str] = set()

    def consume(self, event: Any) -> None:
        """One queued kernel event (an :class:`OrderNote`, a fill or an alert)."""
        if isinstance(event, OrderNote):
            cid = event.client_id
            if cid not in self._seen:
                self._seen.add(cid)
                # a signal is a leg a strategy asked for: not a freeze slice, an unwind or a flatten
                if event.parent_id is None and event.tag != "UNWIND" and not event.leg.startswith("flatten:"):
                    self._signals.add(cid)
                    self.signals.labels(event.strategy).inc()
            if event.state in _SENT and cid not in self._placed:
                self._placed.add(cid)
                self.orders_placed.labels(self.service.mode, self.service.broker_name).inc()
            elif event.state == "REJECTED":
                code = reason_code(event.reason)
                self.orders_failed.labels(code).inc()
                if cid in self._signals:
                    self.signals_rejected.labels(event.strategy, code).inc()
        elif isinstance(event, FillEvent):
            self.fills.labels(event.fill.strategy).inc()
        elif isinstance(event, AlertEvent):
            self.alerts.labels(event.level).inc()
