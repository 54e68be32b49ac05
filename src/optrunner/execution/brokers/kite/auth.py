"""Kite's daily login: the request-token flow with a local redirect listener.

Kite Connect has no password API: the user logs in on kite.zerodha.com (with their own
2FA), Kite redirects the browser to the app's registered redirect URL with
``?request_token=...&status=success``, and the app exchanges that token for the day's access
token at ``POST /session/token`` with ``checksum = sha256(api_key + request_token +
api_secret)`` (the SDK's ``generate_session`` computes it). Register
``http://127.0.0.1:<port>/`` as the redirect URL of your Kite app: :class:`RedirectListener`
catches it there. The access token expires at 06:00 IST the next morning; it is stored
mode 0600 with that expiry (execution/brokers/live/tokens.py). No TOTP is needed for this
flow (the 2FA happens in the browser), so pyotp is not used.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from optrunner.core.errors import RunFailed
from optrunner.execution.brokers.kite.config import BROKER, LOGIN_URL, TOKEN_EXPIRES_AT
from optrunner.execution.brokers.live.secrets import Secret, redact, register
from optrunner.execution.brokers.live.settings import LiveBrokerSettings
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore, next_ist_time

DEFAULT_REDIRECT_PORT = 5599


def checksum(api_key: str, request_token: str, api_secret: str) -> str:
    """Kite's documented checksum: hex SHA-256 of api_key + request_token + api_secret."""
    return hashlib.sha256((api_key + request_token + api_secret).encode()).hexdigest()


def login_url(api_key: str) -> str:
    return LOGIN_URL.format(api_key=api_key)


class RedirectListener:
    """A one-shot HTTP server on 127.0.0.1 that waits for Kite's redirect."""

    def __init__(self, port: int = DEFAULT_REDIRECT_PORT) -> None:
        self.request_token: str | None = None
        self.error: str | None = None
        self._done = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # the URL carries the token: never logged
                pass

            def do_GET(self) -> None:
                q = parse_qs(urlparse(self.path).query)
                token = (q.get("request_token") or [""])[0]
                status = (q.get("status") or [""])[0]
                if token and status in ("success", ""):
                    register(token)
                    listener.request_token = token
                    body = b"optrunner: Kite login received. You can close this tab."
                    self.send_response(200)
                else:
                    listener.error = f"Kite redirected without a request token (status {status or 'missing'!r})"
                    body = b"optrunner: the Kite login did not succeed. Check the terminal."
                    self.send_response(400)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                listener._done.set()

        try:
            self._server = HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise RunFailed(f"cannot listen for Kite's redirect on 127.0.0.1:{port}: {exc.strerror} — "
                            "free the port or pass --port (and register that redirect URL)") from None  # fmt: skip
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def redirect_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait(self, timeout: float) -> str:
        try:
            if not self._done.wait(timeout):
                raise RunFailed(f"no Kite redirect reached {self.redirect_url} within {timeout:.0f}s — is it the "
                                "redirect URL registered for your Kite app?")  # fmt: skip
            if self.error or not self.request_token:
                raise RunFailed(self.error or "Kite redirected without a request token")
            return self.request_token
        finally:
            self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def exchange_request_token(settings: LiveBrokerSettings, request_token: str, now: datetime | None = None) -> SessionToken:
    """``POST /session/token`` through the SDK; the day's session, expiring at 06:00 IST."""
    from optrunner.execution.brokers.kite.orders import kite_client

    settings.require("api_key", "api_secret")
    kite = kite_client(settings, None)
    try:
        data = kite.generate_session(request_token, api_secret=settings.api_secret.value)  # type: ignore[union-attr]
    except Exception as exc:
        raise RunFailed(f"Kite refused the login: {redact(exc)} — log in again to get a fresh request token") from None
    try:
        access = str(data["access_token"])
    except (KeyError, TypeError):
        raise RunFailed("Kite's answer to the login has no access_token") from None
    now = now or datetime.now(UTC)
    return SessionToken(BROKER, Secret(access), next_ist_time(now, TOKEN_EXPIRES_AT).astimezone(UTC),
                        str(data.get("user_id") or ""), now)  # fmt: skip


def login(settings: LiveBrokerSettings, store: TokenStore, *, request_token: str | None = None,
          listener: RedirectListener | None = None, timeout: float = 300.0,
          now: datetime | None = None) -> SessionToken:  # fmt: skip
    """The whole flow: a request token (given, or caught by ``listener``), exchanged and stored."""
    if request_token is None:
        if listener is None:
            raise ValueError("login: give a request token or a listener")
        request_token = listener.wait(timeout)
    token = exchange_request_token(settings, request_token, now)
    store.save(token)
    return token


__all__ = ["DEFAULT_REDIRECT_PORT", "RedirectListener", "checksum", "exchange_request_token", "login", "login_url"]
