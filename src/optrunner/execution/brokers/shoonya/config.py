"""Shoonya's (Finvasia NorenOMS) endpoints, limits and settings.

Base URLs are settings (``OPTRUNNER_SHOONYA_API_ROOT``, ``_WS_ROOT``, ``_INSTRUMENTS_URL``).
Credentials (env ``OPTRUNNER_SHOONYA_<NAME>`` or the ``shoonya`` section of the secrets
file): ``user_id`` (uid), ``api_secret`` (the API key Shoonya issues: QuickAuth's
``appkey`` is sha256(``uid|api_secret``)), ``password``, ``totp_secret`` (the base32 key of
the authenticator), ``vendor_code``, and optionally ``imei`` and ``account`` (actid,
default the uid). Secrets are registered for log redaction when loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optrunner.execution.brokers.live.settings import LiveBrokerSettings, load_settings

BROKER = "shoonya"
API_ROOT = "https://api.shoonya.com/NorenWClientTP"
WS_ROOT = "wss://api.shoonya.com/NorenWSTP/"
INSTRUMENTS_URL = "https://api.shoonya.com/NFO_symbols.txt.zip"
EXTRAS = ("password", "totp_secret", "vendor_code", "imei", "account", "instruments_url")

#: The NorenOMS API document states no order rate; 10 orders/s is SEBI's retail-algo threshold
#: (above it an algo must be registered with the exchange), so we stay at or below it.
ORDERS_PER_SECOND = 10
#: ``remarks`` carries our client id (``tag_for`` digest beyond this length or with symbols).
REMARKS_MAX = 25


def shoonya_settings(section: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None,
                     secrets_file: Path | None = None) -> LiveBrokerSettings:  # fmt: skip
    return load_settings(BROKER, api_root=API_ROOT, ws_root=WS_ROOT, section=section, extras=EXTRAS,
                         environ=environ, secrets_file=secrets_file)  # fmt: skip


def account(settings: LiveBrokerSettings) -> str:
    return settings.extra.get("account") or settings.user_id


def instruments_url(settings: LiveBrokerSettings) -> str:
    return settings.extra.get("instruments_url") or INSTRUMENTS_URL
