"""The service's own alerts (``ServiceWatch``) over a real paper session: recovery done after
a restart on the same store, the replay failing, a stale feed, the daily summary at the
session close (once), and how kernel alerts are classified and routed to strategies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_api_service import Session

from optrunner.alerts.router import AlertRouter
from optrunner.alerts.settings import AlertSettings
from optrunner.alerts.watch import ServiceWatch, classify
from optrunner.backtest.engine import merged_snapshots
from optrunner.core.events import AlertEvent
from optrunner.live.commands import open_paper_session
from optrunner.live.service import TradingService
from service_cases import DAY, STRATEGY, make_case

TS = datetime(2026, 11, 16, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[Path, Path]:
    return make_case(tmp_path_factory.mktemp("watch"))


def rules_of(alerts) -> list[str]:
    return [a.rule for a in alerts]


def test_kernel_alerts_are_classified_and_tied_to_their_strategy() -> None:
    names = ["SVC", "OTHER"]
    cases = [
        (AlertEvent(TS, "warning", "kill_switch:api", "trading ACTIVE -> REDUCING: lunch"), "kill_switch", None),
        (AlertEvent(TS, "critical", "strategy:SVC", "SVC halted: 5 consecutive errors"), "strategy_halt", "SVC"),
        (AlertEvent(TS, "critical", "execution:paper", "strategy OTHER halted: unknown order"), "strategy_halt", "OTHER"),
        (AlertEvent(TS, "critical", "halt", "SVC halted holding 2 legs (policy hold_and_alert): x"), "strategy_halt", "SVC"),
        (AlertEvent(TS, "critical", "reconcile", "end of day: NIFTY...: book +75, venue +0: lost"), "reconciliation_mismatch", None),
        (AlertEvent(TS, "critical", "feed:NIFTY", "feed dead for 30 s"), "feed_dead", None),
        (AlertEvent(TS, "critical", "account_risk", "day loss 2% reached: halted"), "account_risk", None),
        (AlertEvent(TS, "critical", "strategy:SVC", "bot could not process SVC's intents: boom"), "strategy", "SVC"),
    ]  # fmt: skip
    for event, rule, strategy in cases:
        a = classify(event, names)
        assert a is not None and (a.rule, a.strategy, a.level, a.message) == (rule, strategy, event.level, event.message)
    assert classify(AlertEvent(TS, "info", "flatten", "SVC is flat"), names) is None  # the dashboard has it


def test_recovery_done_is_announced_once_after_a_restart(case, tmp_path) -> None:
    first = Session(case, tmp_path)
    first.until_open()
    first.service.stop()  # a crash would leave the same store: the last checkpoint is there
    catalog, _ = case
    again = open_paper_session([case[1]], catalog, DAY.isoformat(), f"sqlite:///{tmp_path / 'store.sqlite'}",
                               recover=None)  # same store: the session is resumed, as serve does  # fmt: skip
    assert again.recovered
    service = TradingService(again.node, [])
    try:
        watch = ServiceWatch(service, AlertRouter(AlertSettings(), channels=[]))
        assert again.node.recovering and rules_of(watch.poll()) == []
        snaps = merged_snapshots(again.catalog, again.symbols, again.day, again.day)
        again.node.run(iter(snaps), close_last_day=False, after_input=lambda n: watch.poll() and None)
        alerts = [a for a in watch.router.recent if a["rule"] == "recovery"]
        assert len(alerts) == 1 and alerts[0]["level"] == "info" and "possibly sent" in alerts[0]["message"]
        assert alerts[0]["message"].startswith(f"resumed after {again.node.resume_after.isoformat()}")
    finally:
        service.stop()


def test_failed_replay_stale_feed_and_one_daily_summary(case, tmp_path) -> None:
    s = Session(case, tmp_path)
    try:
        with TestClient(s.app) as client:
            watch = s.app.state.alerts
            s.step(3)
            s.service.state = "replaying"
            s.service.last_input_wall = -1e9  # no input for ages, during the session
            assert rules_of(watch.poll()) == ["feed_stale"]
            assert rules_of(watch.poll()) == []  # once until the feed is fresh again
            s.service.state, s.service.error = "failed", "OSError: catalog unreadable"
            alerts = watch.poll()
            assert rules_of(alerts) == ["feed_dead"] and "catalog unreadable" in alerts[0].message
            s.service.state = "replaying"
            for _ in range(500):  # to the end of the day: the session closes
                try:
                    s.step()
                except StopIteration:
                    break
            s.service.node.close_day(s.service.node.day)
            s.service.last_input_wall = None
            summary = [a for a in watch.poll() if a.rule == "daily_summary"]
            assert len(summary) == 1 and summary[0].details["stats"]["orders"] == len(s.service.kernel.om.orders())
            assert rules_of(watch.poll()) == []
            assert client.get("/api/health").status_code == 200
            sent = [m for m in watch.router.recent if m["rule"] == "daily_summary"]
            assert len(sent) == 1 and STRATEGY in {x["strategy"] for x in sent[0]["details"]["stats"]["strategies"]}
    finally:
        s.service.stop()
