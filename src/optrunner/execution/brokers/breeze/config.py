"""Breeze's (ICICI Direct) endpoints and settings — market data only.

Base URLs are settings (``OPTRUNNER_BREEZE_API_ROOT``, ``_WS_ROOT``, ``_INSTRUMENTS_URL``) so
tests and sandboxes can point the adapter anywhere. Credentials (env ``OPTRUNNER_BREEZE_<NAME>``
or the ``breeze`` section of the secrets file): ``api_key`` (the app's AppKey) and
``api_secret`` — Breeze calls it the *secret key*; ``secret_key`` is accepted as the same
thing. The daily ``API_Session`` is not a setting: ``optrunner broker login breeze
--session-token X`` turns it into the stored session. Secrets are registered for redaction.

We speak the documented API directly instead of importing ``breeze-connect``: that SDK
downloads the security master at import time (fails offline), writes a ``logs/`` folder into
the working directory and disables IPv6 for the whole process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.settings import LiveBrokerSettings, load_settings

BROKER = "breeze"
API_ROOT = "https://api.icicidirect.com/breezeapi/api/v1"
#: the socket.io server of live quotes (``/socket.io/`` path, Engine.IO v4 over WebSocket)
WS_ROOT = "wss://livestream.icicidirect.com"
INSTRUMENTS_URL = "https://directlink.icicidirect.com/NewSecurityMaster/SecurityMaster.zip"
LOGIN_URL = "https://api.icicidirect.com/apiuser/login?api_key="
EXTRAS = ("secret_key", "instruments_url")


def breeze_settings(section: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None,
                    secrets_file: Path | None = None) -> LiveBrokerSettings:  # fmt: skip
    s = load_settings(BROKER, api_root=API_ROOT, ws_root=WS_ROOT, section=section, extras=EXTRAS,
                      environ=environ, secrets_file=secrets_file)  # fmt: skip
    if "secret_key" in s.extra:  # Breeze's own name for the API secret: kept only as a Secret
        extra = {k: v for k, v in s.extra.items() if k != "secret_key"}
        s = replace(s, api_secret=s.api_secret or Secret(s.extra["secret_key"]), extra=extra)
    return s


def instruments_url(settings: LiveBrokerSettings) -> str:
    return settings.extra.get("instruments_url") or INSTRUMENTS_URL


def login_url(api_key: str) -> str:
    """Where the user logs in to get the day's ``API_Session`` (the key URL-encoded: Breeze keys
    hold characters such as ``%`` and ``)``)."""
    return LOGIN_URL + quote(api_key, safe="")


__all__ = ["API_ROOT", "BROKER", "INSTRUMENTS_URL", "WS_ROOT", "breeze_settings", "instruments_url", "login_url"]
