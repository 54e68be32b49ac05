"""Kite's settings and documented limits (https://kite.trade/docs/connect/v3/)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any

from optrunner.execution.brokers.live.settings import LiveBrokerSettings, load_settings

BROKER = "kite"
API_ROOT = "https://api.kite.trade"
WS_ROOT = "wss://ws.kite.trade"
LOGIN_URL = "https://kite.zerodha.com/connect/login?v=3&api_key={api_key}"
TOKEN_EXPIRES_AT = time(6, 0)  # IST, the morning after login
ORDERS_PER_SECOND = 10  # order placement / modification / cancellation, per API key
ORDERS_PER_MINUTE = 400
TAG_MAX_LEN = 20
MAX_TOKENS_PER_CONNECTION = 3000  # Kite Ticker instruments per WebSocket
EXCHANGE_FOR = {"NIFTY": "NFO", "BANKNIFTY": "NFO", "FINNIFTY": "NFO", "MIDCPNIFTY": "NFO", "SENSEX": "BFO",
                "BANKEX": "BFO"}  # fmt: skip
INDEX_SYMBOL = {"NIFTY": "NIFTY 50", "BANKNIFTY": "NIFTY BANK", "FINNIFTY": "NIFTY FIN SERVICE",
                "MIDCPNIFTY": "NIFTY MID SELECT", "SENSEX": "SENSEX", "BANKEX": "BANKEX"}  # fmt: skip


def kite_settings(section: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
                  secrets_file: Path | None = None) -> LiveBrokerSettings:  # fmt: skip
    """Kite's settings: ``OPTRUNNER_KITE_API_ROOT``/``_WS_ROOT``/``_API_KEY``/``_API_SECRET``,
    the secrets file's ``kite`` section, then the production URLs."""
    return load_settings(BROKER, api_root=API_ROOT, ws_root=WS_ROOT, section=section, extras=("redirect_port",),
                         environ=environ, secrets_file=secrets_file)  # fmt: skip
