"""Seed 001's alert rules: in-process windows (each fires on its condition, not at or below
its threshold, and resolves), the router's dedup and rate limits, the quantile against
numpy, and deploy/prometheus/alerts.yml — the same rules — checked and unit-tested by
promtool (Debian's ``prometheus`` package)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from optrunner.alerts.model import Alert
from optrunner.alerts.router import AlertRouter
from optrunner.alerts.rules import RULES, CountRule, DownRule, QuantileRule, RuleEngine
from optrunner.alerts.settings import AlertSettings
from optrunner.core.buckets import MS_BUCKETS, Buckets, quantile
from required_services import REQUIRE_SERVICES, service_unavailable

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
WALL = datetime(2026, 11, 16, 5, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def engine() -> tuple[RuleEngine, Clock]:
    clock = Clock()
    return RuleEngine(clock=clock, wall=lambda: WALL), clock


def rule(name: str):
    return next(r for r in RULES if r.name == name)


# metric, labels that count, labels that must not, threshold, window
COUNT_CASES = [
    ("orders_failed", "orders_failed_total", {"reason": "BROKER"}, None),
    ("rate_limited", "broker_api_errors_total", {"broker": "dhan", "status": "429"}, {"broker": "dhan", "status": "error"}),
    ("missing_data", "signals_rejected_total", {"strategy": "A", "reason": "STALE_DATA"}, {"strategy": "A", "reason": "ENTRY_CUTOFF"}),
    ("insufficient_capital", "entry_guard_rejected_total", {"reason": "INSUFFICIENT_CAPITAL"}, {"reason": "REENTRY_COOLDOWN"}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "metric", "labels", "other"), COUNT_CASES, ids=[c[0] for c in COUNT_CASES])
def test_count_rule_fires_above_its_threshold_within_its_window(name, metric, labels, other) -> None:
    r = rule(name)
    assert isinstance(r, CountRule)
    e, clock = engine()
    step = r.window / (r.threshold + 2)
    for _ in range(int(r.threshold)):  # exactly the threshold: "more than" is not met
        e.count(metric, labels, 1)
        clock.t += step
    if other is not None:
        for _ in range(50):
            e.count(metric, other, 1)  # other labels never count
    assert e.evaluate() == [] and e.value(r) == r.threshold
    e.count(metric, labels, 1)
    fired = e.evaluate()
    assert [(a.rule, a.level) for a in fired] == [(name, r.level)]
    assert fired[0].details["expr"] == r.expr and e.evaluate() == []  # fires once, not every poll
    clock.t += r.window  # everything slides out of the window
    resolved = e.evaluate()
    assert [(a.rule, a.level, a.details.get("resolved")) for a in resolved] == [(name, "info", True)]


def test_count_rule_window_forgets_old_increments() -> None:
    r = rule("orders_failed")
    e, clock = engine()
    for _ in range(5):
        e.count("orders_failed_total", {"reason": "BROKER"}, 1)
    clock.t += r.window + 1  # those five are older than 5 min now
    for _ in range(5):
        e.count("orders_failed_total", {"reason": "BROKER"}, 1)
    assert e.value(r) == 5 and e.evaluate() == []
    e.count("orders_failed_total", {"reason": "BROKER"}, 2)  # increments come in amounts too (broker error deltas)
    assert [a.rule for a in e.evaluate()] == ["orders_failed"]


def test_feed_down_fires_after_two_minutes_during_the_session_only() -> None:
    r = rule("feed_down")
    assert isinstance(r, DownRule)
    e, clock = engine()
    e.feed(connected=False, session_open=False)  # after the close: normal
    clock.t += 600
    e.feed(connected=False, session_open=False)
    assert e.evaluate() == []
    e.feed(connected=False, session_open=True)
    clock.t += 119
    e.feed(connected=False, session_open=True)
    assert e.evaluate() == []
    clock.t += 1
    assert [a.rule for a in e.evaluate()] == ["feed_down"]
    e.feed(connected=True, session_open=True)
    assert [a.details.get("resolved") for a in e.evaluate()] == [True]


def test_evaluation_p99_rule_on_histogram_deltas() -> None:
    r = rule("evaluation_slow")
    assert isinstance(r, QuantileRule)
    e, clock = engine()
    fast = Buckets(MS_BUCKETS)
    for _ in range(1000):
        fast.observe(3.0)
    e.buckets(r.metric, {"strategy": "A"}, fast.bounds, fast.counts)
    assert e.evaluate() == [] and e.value(r) <= 5
    slow = Buckets(MS_BUCKETS)
    for _ in range(5):  # 0.5 % of evaluations at 6 s: p99 still fast
        slow.observe(6000.0)
    e.buckets(r.metric, {"strategy": "B"}, slow.bounds, slow.counts)
    assert e.evaluate() == []
    for _ in range(20):  # 2.5 %: p99 in the 5-10 s bucket
        slow.observe(6000.0)
    e.buckets(r.metric, {"strategy": "B"}, slow.bounds, [0] * 15 + [20, 0, 0])
    assert [a.rule for a in e.evaluate()] == ["evaluation_slow"] and e.value(r) > 5000
    clock.t += r.window
    assert [a.details.get("resolved") for a in e.evaluate()] == [True]


def test_quantile_matches_numpy_within_a_bucket() -> None:
    rng = np.random.default_rng(7)
    values = rng.uniform(0, 1000, 20_000)  # uniform inside buckets: linear interpolation is exact-ish
    b = Buckets((250, 500, 750, 1000))
    for v in values:
        b.observe(float(v))
    for q in (0.5, 0.9, 0.99):
        assert quantile(q, b.bounds, b.counts) == pytest.approx(np.quantile(values, q), rel=0.01)
    assert np.isnan(quantile(0.99, b.bounds, [0] * 5))


def alert(message: str = "x", rule_name: str = "orders_failed", strategy: str | None = None) -> Alert:
    return Alert(rule_name, "critical", "t", message, WALL, strategy)


def test_router_dedups_repeats_and_rate_limits_per_rule() -> None:
    clock = Clock()
    router = AlertRouter(AlertSettings(dedup_seconds=300, rate_limit={"max_alerts": 3, "per_seconds": 600}),
                         channels=[], clock=clock)  # fmt: skip
    assert router.submit(alert("a")) and not router.submit(alert("a"))  # same message within 5 min
    assert router.submit(alert("a", strategy="S"))  # another strategy: another key
    clock.t += 301
    assert router.submit(alert("a"))  # dedup window over
    assert router.submit(alert("b"))
    assert not router.submit(alert("c")) and not router.submit(alert("d"))  # 3 in 10 min: over the limit
    assert router.submit(alert("x", rule_name="kill_switch"))  # other rules are not limited by it
    clock.t += 600
    assert router.submit(alert("e"))
    sent = router.recent[-1]
    assert sent["message"] == "e (2 more suppressed by the rate limit)" and sent["details"]["suppressed_before"] == 2
    assert router.counts[("suppressed", "orders_failed")] == 3


def test_alerts_yml_holds_the_same_rules() -> None:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    prom = {r["labels"]["rule"]: r for g in doc["groups"] for r in g["rules"]}
    assert set(prom) == {r.name for r in RULES}
    for r in RULES:
        p = prom[r.name]
        assert (p["alert"], p["expr"], p["labels"]["severity"]) == (r.alert, r.expr, r.level)
        assert p.get("for") == (f"{r.for_seconds / 60:g}m" if isinstance(r, DownRule) else None)


def _promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)
    if found is None:  # fails instead of skipping under OPTRUNNER_REQUIRE_SERVICES=1 (.ci/run)
        service_unavailable("promtool", "not installed: apt-get install prometheus (.ci/run does)")
    return found


def test_a_missing_promtool_fails_under_require_services(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(os.path, "exists", lambda p: False)
    monkeypatch.setenv(REQUIRE_SERVICES, "1")
    with pytest.raises(pytest.fail.Exception, match="promtool is unavailable"):
        _promtool()


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = _promtool()
    check = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=PROM, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in check.stdout
    test = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=PROM, capture_output=True, text=True, timeout=60)
    assert test.returncode == 0, test.stdout + test.stderr
    tested = yaml.safe_load((PROM / "alerts_test.yml").read_text())
    fired = {a["alertname"] for t in tested["tests"] for a in t["alert_rule_test"] if a["exp_alerts"]}
    silent = {a["alertname"] for t in tested["tests"] for a in t["alert_rule_test"] if not a["exp_alerts"]}
    assert fired == silent == {r.alert for r in RULES}  # every rule is shown firing and staying silent
