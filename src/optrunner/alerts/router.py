"""The alert router: dedup and rate limits per rule, then each channel's own worker thread.

``submit`` runs on the caller's thread (the API's publisher, never the kernel's) and only
decides and enqueues; every channel has a bounded queue and a daemon thread that sends,
so a channel that hangs or fails delays nothing but its own queue. A failed delivery (after
the channel's own retries) or a full queue is counted in ``alert_channel_failures_total``
and logged without secrets; trading never waits for an alert.

Routing: platform channels (the account settings' ``alerts``) get every alert; an alert
about one strategy also goes to that strategy's ``monitoring.alert_webhook`` and
``monitoring.alert_email`` (unless its ``alert_enabled`` is false).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from optrunner.alerts.channels import ChannelError, EmailChannel, TelegramChannel, WebhookChannel
from optrunner.alerts.model import Alert
from optrunner.alerts.settings import AlertSettings, Secrets

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000  # alerts a channel may have waiting before new ones are dropped (and counted)


@dataclass
class StrategyChannels:
    """A strategy file's ``monitoring`` alert settings."""

    enabled: bool = True
    webhook: str | None = None
    email: str | None = None


def strategy_channels(configs: Mapping[str, Any]) -> dict[str, StrategyChannels]:
    """``monitoring.alert_enabled/alert_webhook/alert_email`` of each loaded strategy config."""
    out = {}
    for name, cfg in configs.items():
        m = getattr(cfg, "monitoring", None)
        if m is None:
            continue
        webhook, email = getattr(m, "alert_webhook", None), getattr(m, "alert_email", None)
        if webhook or email:
            out[name] = StrategyChannels(bool(getattr(m, "alert_enabled", True)), webhook and str(webhook), email)
    return out


class _Worker:
    """One channel's queue and thread."""

    def __init__(self, channel: Any, router: AlertRouter) -> None:
        self.channel = channel
        self.label = str(channel.label)
        self.queue: queue.Queue[Alert | None] = queue.Queue(maxsize=router.queue_size)
        self.router = router
        self.thread = threading.Thread(target=self._run, name=f"alerts-{self.label}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            alert = self.queue.get()
            try:
                if alert is None:
                    return
                self.channel.send(alert)
                self.router._count("sent", self.label)
            except ChannelError as exc:
                self.router._failed(self.label, str(exc))
            except Exception as exc:  # a bug in a channel must not end its worker
                self.router._failed(self.label, f"{type(exc).__name__} (details withheld: may hold a secret)")
            finally:
                self.queue.task_done()


@dataclass
class _Limits:
    dedup: dict[tuple[str, str], float] = field(default_factory=dict)
    sent: dict[str, deque[float]] = field(default_factory=dict)
    suppressed: Counter[str] = field(default_factory=Counter)


class AlertRouter:
    """Decides which alerts go out and hands them to the channels' workers."""

    def __init__(self, settings: AlertSettings | None = None, secrets: Secrets | None = None, *,
                 strategies: Mapping[str, StrategyChannels] | None = None, clock: Callable[[], float] = time.monotonic,
                 queue_size: int = QUEUE_SIZE, channels: list[Any] | None = None) -> None:  # fmt: skip
        """``channels`` replaces the platform channels built from ``settings`` (tests)."""
        self.settings = settings or AlertSettings()
        self.clock = clock
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._limits = _Limits()
        self.counts: Counter[tuple[str, str]] = Counter()  # (what, label) -> n: sent/failed/queue_full/suppressed
        self.last_error: dict[str, str] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=200)
        s = secrets or Secrets()
        platform = channels if channels is not None else build_channels(self.settings, s)
        self._platform = [_Worker(c, self) for c in platform] if self.settings.enabled else []
        self._strategy: dict[str, list[_Worker]] = {}
        for name, sc in (strategies or {}).items():
            if not (sc.enabled and self.settings.enabled):
                continue
            own: list[Any] = []
            if sc.webhook:
                w = self.settings.webhook
                own.append(WebhookChannel(sc.webhook, label="strategy_webhook", timeout=w.timeout_seconds if w else 5.0,
                                          attempts=w.attempts if w else 3))  # fmt: skip
            if sc.email:
                own.append(email_channel(self.settings, s, [sc.email], label="strategy_email"))
            self._strategy[name] = [_Worker(c, self) for c in own]

    @property
    def workers(self) -> list[_Worker]:
        return self._platform + [w for ws in self._strategy.values() for w in ws]

    # --- decisions ---------------------------------------------------------------------------

    def submit(self, alert: Alert) -> bool:
        """Send ``alert`` unless it repeats one within ``dedup_seconds`` or its rule (and
        strategy) is over its rate limit; True when it was handed to the channels."""
        with self._lock:
            allowed, alert = self._admit(alert)
        if not allowed:
            return False
        self.recent.append(alert.as_json())
        targets = self._platform + (self._strategy.get(alert.strategy, []) if alert.strategy else [])
        for w in targets:
            try:
                w.queue.put_nowait(alert)
            except queue.Full:  # the channel is far behind: drop, count, never wait
                self._failed(w.label, "queue full: alert dropped")
                self._count("queue_full", w.label)
        return True

    def _admit(self, alert: Alert) -> tuple[bool, Alert]:
        now = self.clock()
        lim, cfg = self._limits, self.settings
        dedup_key = (alert.key, str(alert.details.get("dedup", alert.message)))
        last = lim.dedup.get(dedup_key)
        if last is not None and now - last < cfg.dedup_seconds:
            self._count_locked("suppressed", alert.rule)
            return False, alert
        sent = lim.sent.setdefault(alert.key, deque())
        while sent and sent[0] <= now - cfg.rate_limit.per_seconds:
            sent.popleft()
        if len(sent) >= cfg.rate_limit.max_alerts:
            lim.suppressed[alert.key] += 1
            self._count_locked("suppressed", alert.rule)
            return False, alert
        lim.dedup[dedup_key] = now
        sent.append(now)
        n = lim.suppressed.pop(alert.key, 0)
        if n:
            alert = replace(alert, message=f"{alert.message} ({n} more suppressed by the rate limit)",
                            details={**alert.details, "suppressed_before": n})  # fmt: skip
        if len(lim.dedup) > 10_000:  # forget old keys
            lim.dedup = {k: t for k, t in lim.dedup.items() if now - t < cfg.dedup_seconds}
        return True, alert

    # --- accounting ------------------------------------------------------------------------------

    def _count_locked(self, what: str, label: str) -> None:
        self.counts[(what, label)] += 1

    def _count(self, what: str, label: str) -> None:
        with self._lock:
            self.counts[(what, label)] += 1

    def _failed(self, label: str, message: str, n: int = 1) -> None:
        with self._lock:
            self.counts[("failed", label)] += n
        self.last_error[label] = message
        log.warning("alert channel %s failed: %s", label, message)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued alert was sent or failed (tests, shutdown); True if all were."""
        deadline = time.monotonic() + timeout
        for w in self.workers:
            while w.queue.unfinished_tasks:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Let the workers finish what is queued, for at most ``timeout`` seconds in all; what
        a slow channel still holds then is dropped (counted as failed) and its worker ends
        after its current send (daemon threads: one stuck in a send never holds the process)."""
        deadline = time.monotonic() + timeout
        for w in self.workers:
            with contextlib.suppress(queue.Full):
                w.queue.put_nowait(None)
        for w in self.workers:
            w.thread.join(max(0.0, deadline - time.monotonic()))
        for w in self.workers:
            if not w.thread.is_alive():
                continue
            dropped = 0
            with contextlib.suppress(queue.Empty):
                while True:
                    if w.queue.get_nowait() is not None:
                        dropped += 1
                    w.queue.task_done()
            if dropped:
                self._failed(w.label, f"shutting down: {dropped} alert(s) not sent", dropped)
            with contextlib.suppress(queue.Full):
                w.queue.put_nowait(None)


def email_channel(settings: AlertSettings, secrets: Secrets, to: list[str], *, label: str = "email") -> EmailChannel:
    m = settings.email
    if m is None:
        raise ValueError("no SMTP server: set the account settings' alerts.email")
    return EmailChannel(m.host, m.port, m.sender, to, starttls=m.starttls, username=m.username,
                        password=secrets.smtp_password, ca_file=m.ca_file, timeout=m.timeout_seconds, label=label)  # fmt: skip


def build_channels(settings: AlertSettings, secrets: Secrets) -> list[Any]:
    """The platform channels ``settings`` configure (secrets already resolved)."""
    out: list[Any] = []
    w, t, m = settings.webhook, settings.telegram, settings.email
    if w is not None and secrets.webhook_url:
        out.append(WebhookChannel(secrets.webhook_url, timeout=w.timeout_seconds, attempts=w.attempts))
    if t is not None and secrets.telegram_token:
        out.append(TelegramChannel(secrets.telegram_token, t.chat_id, api_root=t.api_root,
                                   timeout=t.timeout_seconds, attempts=t.attempts))  # fmt: skip
    if m is not None and m.to:
        out.append(email_channel(settings, secrets, list(m.to)))
    return out


class RouterMetrics(Collector):
    """``alert_channel_failures_total{channel}``, ``alerts_sent_total{channel}``,
    ``alerts_suppressed_total{rule}`` (dedup and rate limit) for the service's registry."""

    def __init__(self, router: AlertRouter) -> None:
        self.router = router

    def collect(self) -> Iterator[Metric]:
        with self.router._lock:
            counts = dict(self.router.counts)
        failed = CounterMetricFamily("alert_channel_failures", "Alerts a channel could not deliver (after retries) or dropped", labels=["channel"])
        sent = CounterMetricFamily("alerts_sent", "Alerts a channel delivered", labels=["channel"])
        suppressed = CounterMetricFamily("alerts_suppressed", "Alerts not sent: a duplicate or over the rate limit", labels=["rule"])
        labels = sorted({w.label for w in self.router.workers})
        for label in labels:
            failed.add_metric([label], counts.get(("failed", label), 0))
            sent.add_metric([label], counts.get(("sent", label), 0))
        for (what, label), n in sorted(counts.items()):
            if what == "suppressed":
                suppressed.add_metric([label], n)
        yield from (failed, sent, suppressed)


def service_router(settings: AlertSettings, configs: Mapping[str, Any], runner: Any = None,
                   env: Mapping[str, str] | None = None) -> AlertRouter:  # fmt: skip
    """The router ``optrunner serve`` runs: the account's channels (secrets read now) and each
    strategy's own. A strategy's ``alert_email`` without an SMTP server in the account settings
    is an error, not a silently dropped alert. With ``runner``, its direct webhook posts stop
    (the router delivers them, with retries)."""
    from optrunner.alerts.settings import resolve
    from optrunner.core.errors import UserError

    secrets = resolve(settings, env)
    strategies = strategy_channels(configs)
    lonely = sorted(n for n, sc in strategies.items() if sc.email and settings.email is None)
    if lonely:
        raise UserError(f"{', '.join(lonely)}: monitoring.alert_email needs an SMTP server — set alerts.email "
                        "(host, sender, ...) in the account settings (examples/account.yaml)")  # fmt: skip
    if runner is not None:
        runner.hand_over_webhooks()
    return AlertRouter(settings, secrets, strategies=strategies)


def alert_channels_line(router: AlertRouter) -> str:
    """The channels alerts go to, without a secret: ``webhook, telegram, email; SVC: strategy_webhook``."""
    if not router.settings.enabled:
        return "disabled (dashboard only)"
    parts = [w.label for w in router._platform] or ["dashboard only"]
    own = [f"{n}: {', '.join(w.label for w in ws)}" for n, ws in sorted(router._strategy.items()) if ws]
    return "; ".join([", ".join(parts), *own])
