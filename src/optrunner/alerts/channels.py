"""Alert channels: webhook (JSON POST), Telegram (Bot API ``sendMessage``), e-mail (SMTP,
STARTTLS). Each ``send`` is synchronous and bounded by its timeouts and attempts; the
router calls it from the channel's own worker thread, never from the kernel's.

A failure raises :class:`ChannelError` whose text is safe to log: it names the channel and
what went wrong, never a URL, token or password (``Scrubber`` replaces any secret that an
underlying library put into its message).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from optrunner.alerts.model import Alert

BACKOFF_SECONDS = 0.5  # first retry's wait; doubles each time


class ChannelError(Exception):
    """A channel could not deliver; the message holds no secret."""


class Scrubber:
    """Replaces every known secret in a text by ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text


def _retrying(attempts: int, what: str, fn: Callable[[], None], scrub: Scrubber,
              sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
    last = ""
    for i in range(attempts):
        if i:
            sleep(BACKOFF_SECONDS * 2 ** (i - 1))
        try:
            fn()
            return
        except Exception as exc:  # any failure: try again, then report it without secrets
            last = scrub(f"{type(exc).__name__}: {exc}")
    raise ChannelError(f"{what}: gave up after {attempts} attempt(s): {last}")


class WebhookChannel:
    """POSTs :meth:`Alert.as_json` to a URL; a 2xx answer is delivered, anything else is retried."""

    kind = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0, attempts: int = 3, label: str = "webhook") -> None:
        self._url = url
        self.timeout = timeout
        self.attempts = attempts
        self.label = label
        parts = urlsplit(url)
        self.scrub = Scrubber([url, parts.query, *(p.split("=", 1)[-1] for p in parts.query.split("&") if p)])
        self.where = f"{parts.scheme}://{parts.hostname}"  # what may be shown: no path, no query

    def send(self, alert: Alert) -> None:
        import httpx

        def post() -> None:
            r = httpx.post(self._url, json=alert.as_json(), timeout=self.timeout)
            if not 200 <= r.status_code < 300:
                raise RuntimeError(f"answered HTTP {r.status_code}")

        _retrying(self.attempts, f"webhook to {self.where}", post, self.scrub)


class TelegramChannel:
    """``POST {api_root}/bot<token>/sendMessage`` with ``{"chat_id", "text"}``; ``ok: true`` is delivered."""

    kind = "telegram"

    def __init__(self, token: str, chat_id: str, *, api_root: str = "https://api.telegram.org",
                 timeout: float = 5.0, attempts: int = 3) -> None:  # fmt: skip
        self._token = token
        self.chat_id = chat_id
        self.api_root = api_root.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.label = "telegram"
        self.scrub = Scrubber([token])

    def send(self, alert: Alert) -> None:
        import httpx

        url = f"{self.api_root}/bot{self._token}/sendMessage"
        body = {"chat_id": self.chat_id, "text": _telegram_text(alert), "disable_web_page_preview": True}

        def post() -> None:
            r = httpx.post(url, json=body, timeout=self.timeout)
            ok = False
            with contextlib.suppress(ValueError):
                ok = bool(r.json().get("ok"))
            if r.status_code != 200 or not ok:
                raise RuntimeError(f"Bot API answered HTTP {r.status_code}")

        _retrying(self.attempts, "telegram sendMessage", post, self.scrub)


def _telegram_text(alert: Alert) -> str:
    text = alert.text()
    return text if len(text) <= 4000 else text[:3990] + " [...]"  # the Bot API takes 4096 characters


class EmailChannel:
    """One message per alert to ``to`` through an SMTP server; STARTTLS before login and data
    (a server that does not offer it is refused — no password or alert goes out in clear)."""

    kind = "email"

    def __init__(self, host: str, port: int, sender: str, to: list[str], *, starttls: bool = True,
                 username: str | None = None, password: str | None = None, ca_file: str | None = None,
                 timeout: float = 10.0, label: str = "email") -> None:  # fmt: skip
        self.host, self.port, self.sender, self.to = host, port, sender, list(to)
        self.starttls = starttls
        self.username = username
        self._password = password
        self.ca_file = ca_file
        self.timeout = timeout
        self.label = label
        self.scrub = Scrubber([password] if password else [])

    def message(self, alert: Alert) -> EmailMessage:
        m = EmailMessage()
        m["From"] = self.sender
        m["To"] = ", ".join(self.to)
        m["Subject"] = f"optrunner {alert.level.upper()}: {alert.title}" + (f" [{alert.strategy}]" if alert.strategy else "")
        lines = [alert.text(), "", f"time: {alert.ts.isoformat()}", f"rule: {alert.rule}"]
        lines += [f"{k}: {v}" for k, v in alert.details.items()]
        m.set_content("\n".join(lines) + "\n")
        return m

    def send(self, alert: Alert) -> None:
        try:
            self._send(self.message(alert))
        except ChannelError:
            raise
        except Exception as exc:
            raise ChannelError(self.scrub(f"e-mail via {self.host}:{self.port}: {type(exc).__name__}: {exc}")) from None

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.ehlo()
            if self.starttls:
                if not smtp.has_extn("starttls"):
                    raise ChannelError(f"e-mail via {self.host}:{self.port}: the server does not offer STARTTLS")
                context = ssl.create_default_context(cafile=self.ca_file)
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username is not None:
                smtp.login(self.username, self._password or "")
            smtp.send_message(message)


Channel = WebhookChannel | TelegramChannel | EmailChannel


def channel_info(channel: Any) -> str:
    """What a channel may show of itself (its kind and label)."""
    return str(getattr(channel, "label", getattr(channel, "kind", "channel")))
