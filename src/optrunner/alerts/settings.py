"""The account settings' ``alerts`` section: platform-wide channels, dedup and rate limits.

Secrets — the webhook URL (its query often is one), the Telegram bot token, the SMTP
password — are given as the name of an environment variable (``*_env``, preferred; looked
up in ``secrets_file`` first when one is set, a ``NAME=value`` file of mode 0600) or
inline; inline values are ``SecretStr``: never printed, dumped as ``**********`` in
``summary.json`` and the journal. They are read once, when ``optrunner serve`` starts
(:func:`resolve`), and a missing variable is an error naming its JSON path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from optrunner.config.base import EmailAddress
from optrunner.core.errors import UserError

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="an environment variable's name")]


def _one_of(model: BaseModel, inline: str, env: str, required: bool = True) -> None:
    given = [n for n in (inline, env) if getattr(model, n) is not None]
    if len(given) > 1:
        raise ValueError(f"give {inline} or {env}, not both")
    if required and not given:
        raise ValueError(f"give {env} (an environment variable's name) or {inline}")


def check_http_url(value: str) -> None:
    """http(s) with a host; the error never repeats the URL (it may hold a secret)."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http:// or https:// URL with a host")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSettings(_Section):
    """JSON POST of every alert."""

    url: SecretStr | None = Field(None, description="the URL (a secret: never printed); or url_env")
    url_env: EnvName | None = Field(None, description="environment variable holding the URL")
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="per attempt")
    attempts: int = Field(3, ge=1, le=10, description="tries before giving up, with backoff 0.5 s, 1 s, 2 s, ...")

    @model_validator(mode="after")
    def _check(self) -> WebhookSettings:
        _one_of(self, "url", "url_env")
        if self.url is not None:
            check_http_url(self.url.get_secret_value())
        return self


class TelegramSettings(_Section):
    """Bot API ``sendMessage`` to one chat."""

    chat_id: str = Field(..., min_length=1, description="the chat (or channel, @name) the bot writes to")
    bot_token: SecretStr | None = Field(None, description="the bot's token (a secret); or bot_token_env")
    bot_token_env: EnvName | None = Field(None, description="environment variable holding the bot token")
    api_root: str = Field("https://api.telegram.org", description="Bot API server (a local one for tests)")
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    attempts: int = Field(3, ge=1, le=10)

    @model_validator(mode="after")
    def _check(self) -> TelegramSettings:
        _one_of(self, "bot_token", "bot_token_env")
        check_http_url(self.api_root)
        return self


class EmailSettings(_Section):
    """SMTP with STARTTLS (port 587) by default; the per-strategy ``monitoring.alert_email`` uses this server."""

    host: str = Field(..., min_length=1, description="SMTP server")
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="upgrade to TLS before logging in or sending (refused if the server cannot)")
    username: str | None = Field(None, description="login, when the server wants one")
    password: SecretStr | None = Field(None, description="the password (a secret); or password_env")
    password_env: EnvName | None = Field(None, description="environment variable holding the password")
    sender: EmailAddress = Field(..., description="the From: address")
    to: list[EmailAddress] = Field(default_factory=list, description="platform-wide recipients (every alert)")
    ca_file: str | None = Field(None, description="PEM file of the CA to trust for STARTTLS (a private relay); default: the system's")
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _check(self) -> EmailSettings:
        _one_of(self, "password", "password_env", required=self.username is not None)
        if self.username is None and (self.password is not None or self.password_env is not None):
            raise ValueError("a password without a username: set username too")
        return self


class RateLimit(_Section):
    max_alerts: int = Field(5, ge=1, description="at most this many alerts of one rule (and strategy) ...")
    per_seconds: float = Field(600.0, gt=0, description="... in this many seconds; the rest are counted and summarised")


class AlertSettings(_Section):
    """Where alerts go besides the dashboard; every field has a working default (no channel)."""

    enabled: bool = Field(True, description="false: no alert leaves the process (the dashboard still shows them)")
    webhook: WebhookSettings | None = None
    telegram: TelegramSettings | None = None
    email: EmailSettings | None = None
    dedup_seconds: float = Field(300.0, ge=0, description="the same alert (rule, strategy, message) again within this is dropped")
    rate_limit: RateLimit = RateLimit()
    daily_summary: bool = Field(True, description="send the day's P&L and counts at the session close")
    feed_stale_seconds: float = Field(60.0, gt=0, description="no market input for this long during the session: a feed-stale alert")
    secrets_file: str | None = Field(None, description="a NAME=value file (mode 0600) the *_env names are read from first, "
                                     "then the environment; relative to the working directory")


@dataclass(frozen=True)
class Secrets:
    """The secrets an :class:`AlertSettings` names, read from the environment."""

    webhook_url: str | None = None
    telegram_token: str | None = None
    smtp_password: str | None = None

    def values(self) -> list[str]:
        """Every secret (to scrub from logs and errors)."""
        out = [v for v in (self.webhook_url, self.telegram_token, self.smtp_password) if v]
        if self.webhook_url:
            query = urlsplit(self.webhook_url).query
            out += [part.split("=", 1)[-1] for part in query.split("&") if part]
        return [v for v in out if len(v) >= 4]


def _read(inline: SecretStr | None, env_name: str | None, path: str, env: Mapping[str, str]) -> str | None:
    if inline is not None:
        return inline.get_secret_value()
    if env_name is None:
        return None
    value = env.get(env_name)
    if not value:
        raise UserError(f"alerts.{path}: environment variable {env_name} is not set (or empty)")
    return value


def read_secrets_file(path: str) -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments, blank lines, optional quotes), as systemd's
    EnvironmentFile; refused when other users may read it. Errors never show a value."""
    p = Path(path).expanduser()
    try:
        mode = stat.S_IMODE(p.stat().st_mode)
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"alerts.secrets_file: cannot read {p} ({exc.strerror or exc})") from None
    if mode & 0o077:
        raise UserError(f"alerts.secrets_file: {p} is readable by other users (mode {mode:o}): run chmod 600 {p}")
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.removeprefix("export ").partition("=")
        if not eq or not name.strip().isidentifier():
            raise UserError(f"alerts.secrets_file: {p} line {n} is not NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name.strip()] = value
    return out


def resolve(settings: AlertSettings, env: Mapping[str, str] | None = None) -> Secrets:
    """Read the secrets ``settings`` names — from ``secrets_file`` first, then the environment;
    a missing one is a :class:`UserError` with its path."""
    e: Mapping[str, str] = os.environ if env is None else env
    if settings.secrets_file is not None:  # "environment variable X": the file's lines are variables too
        e = {**e, **read_secrets_file(settings.secrets_file)}
    w, t, m = settings.webhook, settings.telegram, settings.email
    url = _read(w.url, w.url_env, "webhook.url_env", e) if w else None
    if url is not None and w is not None and w.url_env is not None:
        try:
            check_http_url(url)
        except ValueError as exc:
            raise UserError(f"alerts.webhook.url_env: {w.url_env} {exc}") from None
    return Secrets(
        webhook_url=url,
        telegram_token=_read(t.bot_token, t.bot_token_env, "telegram.bot_token_env", e) if t else None,
        smtp_password=_read(m.password, m.password_env, "email.password_env", e) if m else None,
    )


def describe(settings: AlertSettings) -> dict[str, Any]:
    """Which channels are set, without a secret (for the startup line and the API)."""
    return {"enabled": settings.enabled, "webhook": settings.webhook is not None,
            "telegram": settings.telegram is not None,
            "email": None if settings.email is None else {"host": settings.email.host, "to": list(settings.email.to)}}  # fmt: skip
