"""Scrape-time distributions and rates for ``/metrics``: seed 001's histograms
(``strategy_evaluation_duration_ms``, ``allocator_qty_calculated``,
``option_chain_api_latency_ms``), ``tick_cache_hit_rate`` and the journal's lag.

Their counts are kept where they happen, cheaply (``optrunner.core.buckets``): the runner
times each strategy handler, the entry sizer records each quantity it calculates, the
service times each chain snapshot's fetch, the kernel's view counts quote lookups. This
collector only reads them when Prometheus scrapes — nothing here runs on the kernel's thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from optrunner.alerts.watch import session_open
from optrunner.core.buckets import QTY_BUCKETS, Buckets

if TYPE_CHECKING:
    from optrunner.live.service import TradingService


def _histogram(family: HistogramMetricFamily, labels: list[str], b: Buckets) -> None:
    family.add_metric(labels, buckets=b.cumulative(), sum_value=b.sum)


class Distributions(Collector):
    """Histograms, the tick cache's hit rate and the journal's pending records."""

    def __init__(self, service: TradingService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        s = self.service
        k = s.kernel
        evaluation = HistogramMetricFamily(
            "strategy_evaluation_duration_ms", "Milliseconds one strategy handler call took (each event it was given)",
            labels=["strategy"])  # fmt: skip
        for name, b in sorted(k.runner.evaluation_buckets().items()):
            _histogram(evaluation, [name], b)
        allocated = Buckets(QTY_BUCKETS)  # every sizing strategy's quantities, together
        for sizer in list(k.sizers.values()):
            q = sizer.quantities
            allocated.counts = [a + b for a, b in zip(allocated.counts, q.counts, strict=True)]
            allocated.sum += q.sum
        allocator = HistogramMetricFamily(
            "allocator_qty_calculated", "Quantities (units) the capital allocator calculated for entries; 0 = refused")
        _histogram(allocator, [], allocated)
        chain = HistogramMetricFamily(
            "option_chain_api_latency_ms", "Milliseconds to fetch each option-chain snapshot from the market source")
        _histogram(chain, [], s.chain_latency)
        view = k.view
        lookups = view.quote_hits + view.quote_misses
        hit_rate = GaugeMetricFamily(
            "tick_cache_hit_rate", "Share of quote lookups (risk checks, allocator) found in the latest snapshots; NaN before any")
        hit_rate.add_metric([], view.quote_hits / lookups if lookups else math.nan)
        pending = GaugeMetricFamily(
            "optrunner_journal_pending_records", "Journal records buffered and not yet committed to the store (journal lag)")
        pending.add_metric([], 0 if s.closed else s.node.store.pending)
        session = GaugeMetricFamily(
            "optrunner_session_open", "1 between the session's first input and its close (the feed must deliver)")
        session.add_metric([], 1.0 if session_open(s) else 0.0)
        yield from (evaluation, allocator, chain, hit_rate, pending, session)
