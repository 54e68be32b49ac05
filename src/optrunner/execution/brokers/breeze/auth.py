"""Breeze's daily session: the customer's ``API_Session`` -> our stored session.

The customer logs in at ``https://api.icicidirect.com/apiuser/login?api_key=<key>`` (with
their OTP) and is handed an ``API_Session``. ``GET {api_root}/customerdetails`` with the JSON
body ``{"SessionToken": <API_Session>, "AppKey": <api_key>}`` answers ``Success.session_token``
= base64(``"<user id>:<session key>"``): the user id and session key are what the quote
stream authenticates with (socket.io ``auth={"user", "token"}``), and base64 of the pair is
the ``X-SessionToken`` header of every signed REST call (:func:`signed_headers`).

ICICI documents the session as valid "for 24 hours or until midnight, whichever is
earlier", so the stored session expires at the next 00:00 IST; an earlier ``Invalid
session.`` answer is the truth (log in again). Neither the API_Session, the session key nor
the secret key ever appears in an error or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime, time
from typing import Any

from optrunner.core.errors import UserError
from optrunner.execution.brokers.breeze.config import BROKER, login_url
from optrunner.execution.brokers.breeze.errors import check
from optrunner.execution.brokers.live.errors import LiveBrokerError
from optrunner.execution.brokers.live.http import RestClient
from optrunner.execution.brokers.live.secrets import Secret, redact, register
from optrunner.execution.brokers.live.settings import LiveBrokerSettings
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore, next_ist_time

SESSION_RESET = time(0, 0)  # midnight IST


def timestamp(now: datetime | None = None) -> str:
    """Breeze's ``X-Timestamp``: UTC, ISO 8601 to the second, ``.000Z``."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def signed_headers(settings: LiveBrokerSettings, tok: SessionToken, body: str, now: datetime | None = None) -> dict[str, str]:
    """Headers of a signed REST call: ``X-Checksum: token sha256(timestamp + body + secret)``."""
    assert settings.api_secret is not None
    ts = timestamp(now)
    digest = hashlib.sha256((ts + body + settings.api_secret.value).encode()).hexdigest()
    pair = base64.b64encode(f"{tok.user_id}:{tok.access_token.value}".encode()).decode()
    register(pair)
    return {"Content-Type": "application/json", "X-Checksum": "token " + digest, "X-Timestamp": ts,
            "X-AppKey": settings.api_key, "X-SessionToken": pair}  # fmt: skip


def decode_session(b64: Any) -> tuple[str, str]:
    """(user id, session key) out of ``customerdetails``' base64 ``session_token``."""
    try:
        user, sep, key = base64.b64decode(str(b64), validate=True).decode("ascii").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UserError("Breeze login: customerdetails' session_token is not base64 of user:key") from None
    if not sep or not user or not key:
        raise UserError("Breeze login: customerdetails' session_token is not base64 of user:key")
    return user, key


def login(settings: LiveBrokerSettings, store: TokenStore, *, api_session: str | None,
          now: datetime | None = None) -> SessionToken:  # fmt: skip
    """Exchange the day's ``API_Session`` for the session and store it (0600, expiry at
    midnight IST); one clear error — never a credential — otherwise."""
    settings.require("api_key", "api_secret")
    if not api_session or not api_session.strip():
        raise UserError(f"Breeze login needs the day's API_Session: log in at {login_url(settings.api_key)} "
                        "and pass the session it shows with --session-token")  # fmt: skip
    api_session = api_session.strip()
    register(api_session)
    payload = json.dumps({"SessionToken": api_session, "AppKey": settings.api_key}, separators=(",", ":"))
    client = RestClient(settings.api_root, timeout=settings.timeout_seconds,
                        headers=lambda: {"Content-Type": "application/json"})  # fmt: skip
    try:
        success = check(client.request("GET", "/customerdetails", content=payload), "customerdetails")
    except LiveBrokerError as exc:
        raise UserError(redact(f"Breeze login failed: {exc}")) from None
    finally:
        client.close()
    if not isinstance(success, dict):
        raise UserError("Breeze login: customerdetails answered without the customer's details")
    user, key = decode_session(success.get("session_token"))
    now = now or datetime.now(UTC)
    tok = SessionToken(BROKER, Secret(key), next_ist_time(now, SESSION_RESET), user, created_at=now)
    store.save(tok)
    return tok


__all__ = ["SESSION_RESET", "decode_session", "login", "signed_headers", "timestamp"]
