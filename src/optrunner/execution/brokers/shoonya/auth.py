"""Shoonya's daily login: NorenOMS ``QuickAuth`` with the password hash and a TOTP.

``jData`` = ``{uid, pwd: sha256(password), factor2: TOTP, vc: vendor code, appkey:
sha256("uid|api_secret"), imei, apkversion, source: "API"}`` — the documented fields, as the
NorenRestApiPy client sends them. The TOTP comes from ``pyotp`` and the configured base32
key (or ``--otp`` typed by the user). The answer's ``susertoken`` is the session key sent as
``jKey`` with every later request; it is stored 0600 with the shared token store. Shoonya
invalidates sessions overnight but does not document when: we record 05:00 IST the next
morning and treat any "Session Expired" answer before that as the truth (new orders halt).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, time
from typing import Any

from optrunner.core.errors import UserError
from optrunner.execution.brokers.live.errors import LiveBrokerError
from optrunner.execution.brokers.live.http import RestClient
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.settings import LiveBrokerSettings
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore, next_ist_time
from optrunner.execution.brokers.shoonya.config import BROKER, account
from optrunner.execution.brokers.shoonya.errors import check

SESSION_RESET = time(5, 0)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def body(jdata: dict[str, Any], key: Secret | None = None) -> bytes:
    """``jData=<json>&jKey=<session>``: NorenOMS reads the JSON raw (not URL-encoded)."""
    text = "jData=" + json.dumps(jdata, separators=(",", ":"))
    if key is not None:
        text += "&jKey=" + key.value
    return text.encode()


def current_totp(settings: LiveBrokerSettings) -> str:
    secret = settings.extra.get("totp_secret", "")
    try:
        import pyotp
    except ImportError:
        raise UserError("Shoonya login needs pyotp: pip install 'optrunner[shoonya]' (or pass --otp)") from None
    try:
        return pyotp.TOTP(secret.replace(" ", "")).now()
    except (ValueError, TypeError):
        raise UserError("OPTRUNNER_SHOONYA_TOTP_SECRET is not a base32 authenticator key") from None


def quick_auth_jdata(settings: LiveBrokerSettings, otp: str) -> dict[str, Any]:
    assert settings.api_secret is not None
    return {
        "source": "API", "apkversion": "1.0.0", "uid": settings.user_id,
        "pwd": sha256(settings.extra["password"]), "factor2": otp, "vc": settings.extra["vendor_code"],
        "appkey": sha256(f"{settings.user_id}|{settings.api_secret.value}"),
        "imei": settings.extra.get("imei") or "optrunner",
    }  # fmt: skip


def login(settings: LiveBrokerSettings, store: TokenStore, *, otp: str | None = None,
          now: datetime | None = None) -> SessionToken:  # fmt: skip
    """QuickAuth and store the session; a clear error (never a credential) otherwise."""
    settings.require("user_id", "api_secret", "password", "vendor_code")
    if otp is None:
        settings.require("totp_secret")
        otp = current_totp(settings)
    client = RestClient(settings.api_root, timeout=settings.timeout_seconds)
    try:
        answer = check(client.request("POST", "/QuickAuth", content=body(quick_auth_jdata(settings, otp))), "QuickAuth")
    except LiveBrokerError as exc:
        raise UserError(f"Shoonya login failed: {exc}") from None
    finally:
        client.close()
    key = answer.get("susertoken") if isinstance(answer, dict) else None
    if not isinstance(key, str) or not key:
        raise UserError("Shoonya login answered Ok without a session token (susertoken)")
    now = now or datetime.now(UTC)
    tok = SessionToken(BROKER, Secret(key), next_ist_time(now, SESSION_RESET), settings.user_id,
                       extra={"actid": str(answer.get("actid") or account(settings))})  # fmt: skip
    store.save(tok)
    return tok
