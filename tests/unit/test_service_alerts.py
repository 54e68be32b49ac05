"""The service feeds seed 001's metrics and raises alerts to its channels: a real paper
session replayed by the service's own thread (paper broker with 429 bursts injected), a
webhook peer on 127.0.0.1, ``/metrics`` read as Prometheus would."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_api_service import Session

from alert_peers import WebhookPeer, http_peer
from optrunner.alerts.router import AlertRouter, service_router
from optrunner.alerts.settings import AlertSettings, resolve
from optrunner.api import create_app
from optrunner.backtest.engine import merged_snapshots
from optrunner.core.errors import UserError
from optrunner.core.orders import OrderIntent
from optrunner.core.types import Side, Tag
from optrunner.live.commands import open_paper_session
from optrunner.live.service import TradingService
from optrunner.risk.allocator import CapitalAllocator
from optrunner.risk.sizing import EntrySizer
from service_cases import DAY, STRATEGY, TOKEN, make_case

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "webhook-query-secret-42"
SEED_NAMES = [  # issue 14 / seed 001, as exposed (counters with _total)
    "signals_generated_total", "signals_rejected_total", "strategy_evaluation_duration_ms", "entry_guard_passed_total",
    "entry_guard_rejected_total", "allocator_qty_calculated", "orders_placed_total", "orders_failed_total",
    "broker_api_errors_total", "dhanhq_api_errors_total", "websocket_connected", "tick_cache_hit_rate",
    "option_chain_api_latency_ms", "optrunner_open_positions", "optrunner_pnl_unrealized_rupees",
    "optrunner_pnl_realized_rupees", "optrunner_charges_rupees", "optrunner_kill_switch_state",
    "optrunner_journal_pending_records", "optrunner_bad_data_dropped", "optrunner_session_open",
    "alert_channel_failures_total",
]  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[Path, Path]:
    return make_case(tmp_path_factory.mktemp("alerts-service"))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(ss: dict, name: str, **labels: str) -> float:
    return ss[(name, tuple(sorted(labels.items())))]


def test_a_replayed_day_feeds_the_seed_metrics_and_alerts_reach_the_webhook(case, tmp_path) -> None:
    catalog, configs = case
    peer = WebhookPeer()
    with http_peer(peer.app) as base:
        s = open_paper_session([configs], catalog, DAY.isoformat(), f"sqlite:///{tmp_path / 'store.sqlite'}",
                               faults="burst=0.6,seed=3")  # the paper broker answers bursts of 429s
        settings = AlertSettings(webhook={"url": f"{base}/hook?key={SECRET}"})
        router = AlertRouter(settings, resolve(settings))
        service = TradingService(s.node, merged_snapshots(s.catalog, s.symbols, s.day, s.day), pace_ms=3,
                                 quality=s.catalog.quality, catalog=s.catalog)  # fmt: skip
        app = create_app(service, TOKEN, alerts=router)
        with TestClient(app) as client:
            deadline = time.monotonic() + 10
            while not service.kernel.portfolio.positions() and time.monotonic() < deadline:
                time.sleep(0.01)  # the 09:20 entries are in
            assert client.post("/api/trading/disable", headers=AUTH, json={"reason": "operator pause"}).status_code == 200
            time.sleep(0.2)
            assert client.post("/api/trading/enable", headers=AUTH).status_code == 200
            assert service.wait(60) and service.state == "finished"
            deadline = time.monotonic() + 5
            while not any(b["rule"] == "daily_summary" for b in peer.bodies) and time.monotonic() < deadline:
                time.sleep(0.05)
            text = client.get("/metrics").text
            api_alerts = client.get("/api/alerts", headers=AUTH).text
            ws_alerts = [m for m in app.state.hub.recent if m["type"] == "alert"]
        assert router.drain(5)
    k = service.kernel
    ss = samples(text)
    for name in SEED_NAMES:
        assert f"# TYPE {name} " in text, name
    # fed by what the session did, checked against the kernel's own counts
    orders = k.om.orders()
    assert value(ss, "orders_placed_total", mode="paper", broker="paper") == len([o for o in orders if o.state.value != "REJECTED"])
    assert value(ss, "signals_generated_total", strategy=STRATEGY) >= 2
    assert value(ss, "entry_guard_passed_total") == len([o for o in orders if o.tag.value == "ENTRY" and o.state.value != "REJECTED"])
    assert value(ss, "broker_api_errors_total", broker="paper", status="429") == k.om.counters["rate_limited"] > 3
    slot_events = k.runner.get_metrics()["strategies"][STRATEGY]["total_ticks"]
    assert value(ss, "strategy_evaluation_duration_ms_count", strategy=STRATEGY) == slot_events > 300
    assert value(ss, "strategy_evaluation_duration_ms_bucket", strategy=STRATEGY, le="+Inf") == slot_events
    assert value(ss, "option_chain_api_latency_ms_count") == s.node.inputs > 300  # one fetch per snapshot replayed
    hits, misses = k.view.quote_hits, k.view.quote_misses
    assert hits > 0 and value(ss, "tick_cache_hit_rate") == pytest.approx(hits / (hits + misses))
    assert value(ss, "optrunner_session_open") == 0.0 and value(ss, "websocket_connected") == 0.0  # the day is over
    # alerts: the kill switch (event), the 429 rule (over 3 in 1 min), the daily summary
    rules = [b["rule"] for b in peer.bodies]
    assert rules.count("kill_switch") == 2 and "rate_limited" in rules and rules.count("daily_summary") == 1
    summary = next(b for b in peer.bodies if b["rule"] == "daily_summary")
    assert summary["details"]["stats"]["orders"] == len(orders)
    assert str(DAY) in summary["message"]
    assert value(ss, "alerts_sent_total", channel="webhook") == len(peer.bodies)
    assert value(ss, "alert_channel_failures_total", channel="webhook") == 0
    assert any(m["data"]["source"] == "alerts:rate_limited" for m in ws_alerts)  # the dashboard's alert feed sees rules
    assert all(SECRET not in json.dumps(b) for b in peer.bodies)
    assert SECRET not in text and SECRET not in api_alerts


def test_the_allocator_histogram_counts_each_sizing(case, tmp_path) -> None:
    session = Session(case, tmp_path)
    try:
        session.until_open()
        k = session.service.kernel
        contract = k.portfolio.positions()[0].contract
        sizer = EntrySizer(CapitalAllocator(alloc_pct=0.05, risk_per_trade_pct=0.5))
        k.sizers["BUYER"] = sizer
        lot = 75 if contract.underlying == "NIFTY" else 1
        with k.lock:
            sized, problem = sizer.apply(OrderIntent("BUYER", Tag.ENTRY, contract, Side.BUY, 100 * lot), k.view)
        assert problem == "" and 0 < sized.quantity < 100 * lot
        with TestClient(session.app) as client:
            ss = samples(client.get("/metrics").text)
        assert value(ss, "allocator_qty_calculated_count") == 1
        assert value(ss, "allocator_qty_calculated_sum") == sized.quantity
        below = [b for b in sizer.quantities.bounds if b < sized.quantity]
        assert value(ss, "allocator_qty_calculated_bucket", le="+Inf") == 1
        if below:
            assert value(ss, "allocator_qty_calculated_bucket", le=repr(below[-1])) == 0
    finally:
        session.service.stop()


def test_entries_refused_before_the_broker_count_as_entry_guard_rejections(case, tmp_path) -> None:
    session = Session(case, tmp_path)
    try:
        with TestClient(session.app) as client:
            client.post("/api/trading/disable", headers=AUTH)  # REDUCING: the 09:20 entries are refused
            session.step(10)
            ss = samples(client.get("/metrics").text)
        refused = [o for o in session.service.kernel.om.orders() if o.tag.value == "ENTRY"]
        assert refused and all(o.state.value == "REJECTED" for o in refused)
        assert value(ss, "entry_guard_rejected_total", reason="KILL_SWITCH_REDUCING") == len(refused)
        assert ("entry_guard_passed_total", ()) not in ss or value(ss, "entry_guard_passed_total") == 0
    finally:
        session.service.stop()


def test_a_strategy_alert_email_needs_an_smtp_server(case) -> None:
    _, configs = case
    from optrunner.config.files import load_config_file as load_config

    cfg = load_config(next(configs.glob("*.json")))
    cfg = cfg.model_copy(update={"monitoring": cfg.monitoring.model_copy(update={"alert_email": "desk@example.com"})})
    with pytest.raises(UserError, match=f"{STRATEGY}: monitoring.alert_email needs an SMTP server"):
        service_router(AlertSettings(), {STRATEGY: cfg})
    router = service_router(AlertSettings(email={"host": "127.0.0.1", "sender": "o@example.com"}), {STRATEGY: cfg})
    assert [w.label for w in router._strategy[STRATEGY]] == ["strategy_email"]
    router.close(0.1)
