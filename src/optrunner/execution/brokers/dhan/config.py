"""Dhan's endpoints, documented limits and settings.

Base URLs are settings (``OPTRUNNER_DHAN_API_ROOT``, ``_WS_ROOT``, ``_INSTRUMENTS_URL``;
see :mod:`optrunner.execution.brokers.live.settings`), so tests point the adapter at a fake
on 127.0.0.1. Credentials: ``user_id`` is the Dhan client id; the access token is generated
on web.dhan.co (``OPTRUNNER_DHAN_ACCESS_TOKEN`` or ``access_token`` in the secrets file) and
stored by ``optrunner broker login dhan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optrunner.execution.brokers.live.settings import LiveBrokerSettings, load_settings

BROKER = "dhan"
API_ROOT = "https://api.dhan.co/v2"
WS_ROOT = "wss://api-feed.dhan.co"
INSTRUMENTS_URL = "https://images.dhan.co/api-data/api-scrip-master.csv"
ORDER_WS_ROOT = "wss://api-order-update.dhan.co"
EXTRAS = ("access_token", "instruments_url", "order_ws_root")

#: Dhan's order API limits (docs "Rate limit"): per second / minute / hour / day, and
#: modifications allowed per order. The per-second one feeds the order manager's bucket.
ORDERS_PER_SECOND = 10
ORDERS_PER_MINUTE = 250
ORDERS_PER_HOUR = 1000
ORDERS_PER_DAY = 7000
MODIFICATIONS_PER_ORDER = 25
#: ``correlationId``: longer client ids are sent as a digest (``tag_for``).
CORRELATION_ID_MAX = 25


def dhan_settings(section: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None,
                  secrets_file: Path | None = None) -> LiveBrokerSettings:  # fmt: skip
    s = load_settings(BROKER, api_root=API_ROOT, ws_root=WS_ROOT, section=section, extras=EXTRAS,
                      environ=environ, secrets_file=secrets_file)  # fmt: skip
    return s


def instruments_url(settings: LiveBrokerSettings) -> str:
    return settings.extra.get("instruments_url") or INSTRUMENTS_URL


def order_ws_root(settings: LiveBrokerSettings) -> str:
    """The Live Order Update WebSocket (``OPTRUNNER_DHAN_ORDER_WS_ROOT``)."""
    return settings.extra.get("order_ws_root") or ORDER_WS_ROOT
