"""Alert channels against real local peers (uvicorn webhook and Bot API servers, aiosmtpd
with STARTTLS), the router's non-blocking delivery, failure counting, and secrets that
never appear in a log line, an error, a metric or a startup line."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email import message_from_bytes

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alert_peers import SmtpPeer, TelegramPeer, WebhookPeer, http_peer, self_signed, silent_peer
from optrunner.alerts import channels
from optrunner.alerts.channels import ChannelError, EmailChannel, TelegramChannel, WebhookChannel
from optrunner.alerts.model import Alert
from optrunner.alerts.router import (
    AlertRouter,
    RouterMetrics,
    StrategyChannels,
    alert_channels_line,
)
from optrunner.alerts.settings import AlertSettings, EmailSettings, Secrets

TOKEN = "123456:AAH-bot-token-very-secret"
PASSWORD = "smtp-pa55word-secret"
HOOK_KEY = "hook-query-key-secret"


def alert(rule: str = "orders_failed", message: str = "6 in the last 5 min", strategy: str | None = None) -> Alert:
    return Alert(rule, "critical", "Orders failing", message, datetime(2026, 11, 16, 5, 0, tzinfo=UTC), strategy)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch) -> None:
    monkeypatch.setattr(channels, "BACKOFF_SECONDS", 0.05)


def test_webhook_posts_the_alert_as_json_and_retries_a_5xx() -> None:
    peer = WebhookPeer(fail_first=2)
    with http_peer(peer.app) as base:
        WebhookChannel(f"{base}/hook?key={HOOK_KEY}", attempts=3).send(alert(strategy="SVC"))
    assert peer.attempts == 3 and len(peer.bodies) == 1
    body = peer.bodies[0]
    assert body["rule"] == "orders_failed" and body["level"] == "critical" and body["strategy"] == "SVC"
    assert body["message"] == "6 in the last 5 min" and body["ts"] == "2026-11-16T05:00:00+00:00"
    assert body["source"] == "alerts:orders_failed"  # the seed's webhook body keys (ts, level, source, message) are there
    assert peer.queries == [f"key={HOOK_KEY}"]


def test_webhook_gives_up_after_its_attempts_without_showing_the_url(caplog) -> None:
    peer = WebhookPeer(fail_first=10)
    with http_peer(peer.app) as base, pytest.raises(ChannelError) as err:
        WebhookChannel(f"{base}/hook?key={HOOK_KEY}", attempts=2).send(alert())
    assert peer.attempts == 2
    text = str(err.value)
    assert "gave up after 2 attempt(s)" in text and "HTTP 500" in text
    assert HOOK_KEY not in text and "/hook" not in text


def test_telegram_send_message_reaches_the_bot_api() -> None:
    peer = TelegramPeer(TOKEN)
    with http_peer(peer.app) as base:
        TelegramChannel(TOKEN, "-100777", api_root=base).send(alert(strategy="SVC"))
    assert len(peer.messages) == 1
    msg = peer.messages[0]
    assert msg["chat_id"] == "-100777"
    assert msg["text"] == "[CRITICAL] Orders failing [SVC]: 6 in the last 5 min"


def test_telegram_refused_token_is_an_error_without_the_token(caplog) -> None:
    peer = TelegramPeer("999:other-token")
    with http_peer(peer.app) as base, pytest.raises(ChannelError) as err:
        TelegramChannel(TOKEN, "-100777", api_root=base, attempts=2).send(alert())
    assert "HTTP 401" in str(err.value) and TOKEN not in str(err.value) and peer.messages == []


def test_telegram_unreachable_names_no_token() -> None:
    with silent_peer() as base:
        dead = base.replace("http://127.0.0.1:", "http://127.0.0.1:1")  # nothing listens there
    with pytest.raises(ChannelError) as err:
        TelegramChannel(TOKEN, "1", api_root=dead, attempts=1, timeout=1).send(alert())
    assert TOKEN not in str(err.value) and "ConnectError" in str(err.value)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_email_goes_through_starttls_with_login(cert) -> None:
    with SmtpPeer(cert, "ops", PASSWORD) as peer:
        EmailChannel("127.0.0.1", peer.port, "optrunner@example.com", ["ops@example.com", "risk@example.com"],
                     username="ops", password=PASSWORD, ca_file=str(cert[0]), timeout=5).send(alert(strategy="SVC"))  # fmt: skip
    assert len(peer.messages) == 1 and peer.tls_sessions == 1  # the DATA arrived over TLS
    env = peer.messages[0]
    assert env.mail_from == "optrunner@example.com" and env.rcpt_tos == ["ops@example.com", "risk@example.com"]
    msg = message_from_bytes(env.content)
    assert msg["Subject"] == "optrunner CRITICAL: Orders failing [SVC]"
    assert "6 in the last 5 min" in msg.get_payload(decode=True).decode()


def test_email_refuses_an_untrusted_certificate(cert) -> None:
    with SmtpPeer(cert, "ops", PASSWORD) as peer, pytest.raises(ChannelError) as err:
        EmailChannel("127.0.0.1", peer.port, "a@example.com", ["b@example.com"], username="ops",
                     password=PASSWORD, timeout=5).send(alert())  # fmt: skip  (system CAs only)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) and PASSWORD not in str(err.value)
    assert peer.messages == []


def test_email_refuses_a_server_without_starttls() -> None:
    with SmtpPeer(None) as peer, pytest.raises(ChannelError) as err:
        EmailChannel("127.0.0.1", peer.port, "a@example.com", ["b@example.com"], username="ops",
                     password=PASSWORD, timeout=5).send(alert())  # fmt: skip
    assert "does not offer STARTTLS" in str(err.value) and peer.messages == []


def test_email_wrong_password_is_an_error_without_it(cert) -> None:
    with SmtpPeer(cert, "ops", "the-right-one") as peer, pytest.raises(ChannelError) as err:
        EmailChannel("127.0.0.1", peer.port, "a@example.com", ["b@example.com"], username="ops",
                     password=PASSWORD, ca_file=str(cert[0]), timeout=5).send(alert())  # fmt: skip
    assert "SMTPAuthenticationError" in str(err.value) and PASSWORD not in str(err.value)
    assert peer.messages == []


def test_a_hung_channel_blocks_neither_submit_nor_the_other_channels(caplog) -> None:
    peer = WebhookPeer()
    with http_peer(peer.app) as base, silent_peer() as hung:
        slow = WebhookChannel(f"{hung}/x?key={HOOK_KEY}", timeout=0.3, attempts=2)
        good = WebhookChannel(f"{base}/hook", label="good")
        router = AlertRouter(AlertSettings(dedup_seconds=0, rate_limit={"max_alerts": 100, "per_seconds": 60}),
                             channels=[slow, good])  # fmt: skip
        t0 = time.perf_counter()
        for i in range(20):
            router.submit(alert(message=f"alert {i}"))
        submit_s = time.perf_counter() - t0
        deadline = time.monotonic() + 5
        while len(peer.bodies) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(peer.bodies) == 20  # the healthy channel got everything while the other hung
        assert submit_s < 0.1, submit_s  # deciding and enqueueing only
        deadline = time.monotonic() + 5
        while router.counts[("failed", "webhook")] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        router.close(timeout=0.5)
    # what the hung channel still held at shutdown is dropped and counted: every alert is accounted for
    assert router.counts[("failed", "webhook")] + router.counts[("sent", "webhook")] >= 19
    assert router.counts[("sent", "good")] == 20
    registry = CollectorRegistry()
    registry.register(RouterMetrics(router))
    text = generate_latest(registry).decode()
    assert 'alert_channel_failures_total{channel="webhook"}' in text and 'alerts_sent_total{channel="good"} 20.0' in text
    assert HOOK_KEY not in caplog.text and HOOK_KEY not in text and HOOK_KEY not in str(router.last_error)


def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    with silent_peer() as hung:
        router = AlertRouter(AlertSettings(dedup_seconds=0, rate_limit={"max_alerts": 100, "per_seconds": 60}),
                             channels=[WebhookChannel(f"{hung}/x", timeout=2, attempts=1)], queue_size=2)  # fmt: skip
        t0 = time.perf_counter()
        for i in range(10):
            router.submit(alert(message=f"alert {i}"))
        assert time.perf_counter() - t0 < 0.1
        # one in flight, two queued: the other seven were dropped and counted
        assert router.counts[("queue_full", "webhook")] >= 6
        router.close(timeout=0.2)


def test_strategy_channels_get_their_strategy_alerts_only(cert) -> None:
    a, b = WebhookPeer(), WebhookPeer()
    settings = AlertSettings(email=EmailSettings(host="127.0.0.1", port=1, sender="o@example.com", starttls=True,
                                                 ca_file=str(cert[0])))  # fmt: skip
    with http_peer(a.app) as base_a, http_peer(b.app) as base_b, SmtpPeer(cert, "ops", PASSWORD) as smtp:
        settings = settings.model_copy(update={"email": settings.email.model_copy(update={"port": smtp.port, "username": "ops"})})
        router = AlertRouter(settings, Secrets(smtp_password=PASSWORD), strategies={
            "A": StrategyChannels(webhook=f"{base_a}/hook", email="a-desk@example.com"),
            "B": StrategyChannels(webhook=f"{base_b}/hook"),
            "C": StrategyChannels(enabled=False, webhook=f"{base_b}/hook"),
        })  # fmt: skip
        router.submit(alert("strategy_halt", "A halted", strategy="A"))
        router.submit(alert("strategy_halt", "C halted", strategy="C"))
        router.submit(alert("kill_switch", "trading ACTIVE -> HALTED"))
        assert router.drain(5)
        router.close()
    assert [x["message"] for x in a.bodies] == ["A halted"] and b.bodies == []
    assert [e.rcpt_tos for e in smtp.messages] == [["a-desk@example.com"]]
    assert alert_channels_line(router) == "dashboard only; A: strategy_webhook, strategy_email; B: strategy_webhook"
