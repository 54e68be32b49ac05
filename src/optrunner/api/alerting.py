"""The service's alert watch: the router (channels), seed 001's rules fed by the metrics,
the daily summary from ``/performance/stats`` — wired for one app (see alerts/)."""

from __future__ import annotations

from optrunner.alerts.router import AlertRouter, RouterMetrics
from optrunner.alerts.rules import RuleEngine
from optrunner.alerts.watch import ServiceWatch
from optrunner.api import views
from optrunner.api.metrics import ServiceMetrics
from optrunner.live.service import TradingService


def alert_watch(service: TradingService, metrics: ServiceMetrics, router: AlertRouter | None) -> ServiceWatch:
    """A watch over ``service`` sending to ``router`` (a channel-less one when None); its rules
    see every increment of ``metrics``, and the router's counters join the app's registry."""
    rules = RuleEngine()
    metrics.sinks.append(rules)
    watch = ServiceWatch(service, router, rules=rules,
                         summary=lambda: views.performance(service).model_dump(mode="json"))  # fmt: skip
    metrics.registry.register(RouterMetrics(watch.router))
    return watch
