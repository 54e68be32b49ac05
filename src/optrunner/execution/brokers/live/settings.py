"""A live broker's settings: where its API is, and the credentials to use it.

Base URLs are settings, not constants, so tests (a fake broker on 127.0.0.1) and a user's
own sandbox can point an adapter anywhere. Each value is taken from, in order:

1. the environment: ``OPTRUNNER_<BROKER>_API_ROOT``, ``_WS_ROOT``, ``_API_KEY``,
   ``_API_SECRET``, ``_USER_ID`` (and ``_<EXTRA>`` for broker-specific extras);
2. the secrets file (``OPTRUNNER_SECRETS_FILE``, default ``~/.config/optrunner/secrets.json``),
   a JSON object with one section per broker: ``{"kite": {"api_key": "...", ...}}``;
3. the adapter's defaults (the broker's production URLs).

A secrets file readable by other users is refused (as ssh refuses a readable key). The API
secret is a :class:`~.secrets.Secret`, so printing the settings never shows it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optrunner.core.errors import UserError
from optrunner.execution.brokers.live.secrets import Secret, register

SECRETS_ENV = "OPTRUNNER_SECRETS_FILE"
FIELDS = ("api_root", "ws_root", "api_key", "api_secret", "user_id")


def config_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/optrunner`` (``~/.config/optrunner``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "optrunner"


@dataclass(frozen=True)
class LiveBrokerSettings:
    """Everything an adapter needs to reach its broker. ``extra`` holds broker-specific keys."""

    broker: str
    api_root: str
    ws_root: str
    api_key: str = ""
    api_secret: Secret | None = None
    user_id: str = ""
    timeout_seconds: float = 7.0
    extra: dict[str, str] = field(default_factory=dict)

    def require(self, *names: str) -> None:
        """A clear error naming where to put each missing credential."""
        missing = [n for n in names if not (getattr(self, n, None) or self.extra.get(n))]
        if missing:
            b = self.broker.upper()
            where = ", ".join(f"OPTRUNNER_{b}_{n.upper()}" for n in missing)
            raise UserError(f"{self.broker}: missing {', '.join(missing)} — set {where} or add them to the "
                            f'"{self.broker}" section of the secrets file ({SECRETS_ENV})')  # fmt: skip


def _read_secrets(path: Path) -> dict[str, Any]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise UserError(f"the secrets file {path} is readable by other users (mode {mode:o}): run chmod 600 {path}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"the secrets file {path} is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"the secrets file {path} must hold a JSON object with one section per broker")
    return data


def load_settings(
    broker: str,
    *,
    api_root: str,
    ws_root: str,
    section: Mapping[str, Any] | None = None,
    extras: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
) -> LiveBrokerSettings:
    """The settings of ``broker`` (see the module docstring for the order). ``section`` is the
    broker's section of a settings file, if any (overridden by the environment)."""
    env = os.environ if environ is None else environ
    prefix = f"OPTRUNNER_{broker.upper()}_"
    path = secrets_file or Path(env.get(SECRETS_ENV) or config_home(env) / "secrets.json")
    from_file: dict[str, Any] = {}
    if path.is_file():
        data = _read_secrets(path)
        sec = data.get(broker, {})
        if not isinstance(sec, dict):
            raise UserError(f"{path}: $.{broker} must be an object of settings")
        from_file = sec
    values: dict[str, Any] = {"api_root": api_root, "ws_root": ws_root}
    for src in (section or {}, from_file):
        for k, v in src.items():
            if k in FIELDS or k in extras or k == "timeout_seconds":
                values[k] = v
    for k in (*FIELDS, *extras, "timeout_seconds"):
        v = env.get(prefix + k.upper())
        if v:
            values[k] = v
    for k in ("api_root", "ws_root"):
        if not isinstance(values[k], str) or not values[k].startswith(("http://", "https://", "ws://", "wss://")):
            raise UserError(f"{broker}: {k} {values[k]!r} is not a URL (set {prefix}{k.upper()})")
    try:
        timeout = float(values.get("timeout_seconds", 7.0))
    except (TypeError, ValueError):
        raise UserError(f"{broker}: timeout_seconds must be a number of seconds") from None
    secret = values.get("api_secret")
    extra = {k: str(values[k]) for k in extras if values.get(k)}
    for k in extras:
        if "secret" in k or "password" in k or "totp" in k or "pin" in k:
            register(extra.get(k))
    return LiveBrokerSettings(
        broker, values["api_root"].rstrip("/"), values["ws_root"].rstrip("/"), str(values.get("api_key") or ""),
        Secret(str(secret)) if secret else None, str(values.get("user_id") or ""), timeout, extra,
    )  # fmt: skip


__all__ = ["SECRETS_ENV", "LiveBrokerSettings", "config_home", "load_settings"]
