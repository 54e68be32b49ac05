"""Dhan's daily login: check the access token and store it (0600) with its expiry.

Dhan has no request-token flow for an individual trader: the access token is generated on
web.dhan.co (valid for a period the user chooses, at most what Dhan allows) and given to us
through ``OPTRUNNER_DHAN_ACCESS_TOKEN`` or the secrets file. ``optrunner broker login dhan``
checks it against ``GET /v2/profile`` (which also tells its expiry, ``tokenValidity``) and
stores it with the shared :class:`~optrunner.execution.brokers.live.tokens.TokenStore`;
``serve`` then reads it from there and refuses an expired one.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from optrunner.core.errors import UserError
from optrunner.core.timeutil import IST
from optrunner.execution.brokers.dhan.config import BROKER
from optrunner.execution.brokers.dhan.errors import error_text, refine
from optrunner.execution.brokers.live.errors import LiveBrokerError, SessionExpired
from optrunner.execution.brokers.live.http import RestClient
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.settings import LiveBrokerSettings
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore

DEFAULT_VALIDITY = timedelta(hours=24)


def headers(access_token: Secret, client_id: str) -> dict[str, str]:
    return {"access-token": access_token.value, "client-id": client_id, "Accept": "application/json"}


def token_expiry(profile: dict[str, Any], token: str, now: datetime) -> datetime:
    """When the token stops working: the profile's ``tokenValidity`` ("30/03/2026 15:37" IST),
    else the JWT's ``exp`` claim, else 24 hours from ``now``."""
    text = profile.get("tokenValidity")
    if isinstance(text, str):
        for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(text.strip(), fmt).replace(tzinfo=IST)
            except ValueError:
                continue
    parts = token.split(".")
    if len(parts) == 3:
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            return datetime.fromtimestamp(float(claims["exp"]), UTC)
        except (ValueError, KeyError, TypeError):
            pass
    return now + DEFAULT_VALIDITY


def login(settings: LiveBrokerSettings, store: TokenStore, *, now: datetime | None = None) -> SessionToken:
    """Check the configured access token with Dhan and store it; a clear error otherwise."""
    settings.require("user_id", "access_token")
    token = Secret(settings.extra["access_token"])
    client = RestClient(settings.api_root, timeout=settings.timeout_seconds,
                        headers=lambda: headers(token, settings.user_id), error_text=error_text)  # fmt: skip
    try:
        profile = client.request("GET", "/profile")
    except LiveBrokerError as exc:
        exc = refine(exc)
        if isinstance(exc, SessionExpired):
            raise UserError("Dhan refused the access token (expired or not this client id's): generate a new one "
                            "on web.dhan.co and set OPTRUNNER_DHAN_ACCESS_TOKEN") from None  # fmt: skip
        raise UserError(f"Dhan login check failed: {exc}") from None
    finally:
        client.close()
    if not isinstance(profile, dict) or str(profile.get("dhanClientId", settings.user_id)) != settings.user_id:
        raise UserError("Dhan's profile answer does not name the configured client id (OPTRUNNER_DHAN_USER_ID)")
    now = now or datetime.now(UTC)
    expires = token_expiry(profile, token.value, now)
    if expires <= now:
        raise UserError(f"the Dhan access token expired at {expires.astimezone(IST):%Y-%m-%d %H:%M} IST: generate a new one")
    tok = SessionToken(BROKER, token, expires, settings.user_id)
    store.save(tok)
    return tok
