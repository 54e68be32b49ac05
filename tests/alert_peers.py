"""Real local peers for the alert channels: an HTTP server (uvicorn) for webhooks and a fake
Telegram Bot API, and an SMTP server (aiosmtpd) speaking STARTTLS with a self-signed
certificate made here — everything on 127.0.0.1, nothing mocked in the client."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@contextmanager
def http_peer(app: FastAPI) -> Iterator[str]:
    """``app`` served on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the local HTTP peer did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


class WebhookPeer:
    """Records every JSON body POSTed to ``/hook``; the first ``fail_first`` answer 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.queries: list[str] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return JSONResponse({"error": "try later"}, status_code=500)
            self.bodies.append(await request.json())
            self.queries.append(request.url.query)
            return JSONResponse({"ok": True})


class TelegramPeer:
    """The Bot API's ``sendMessage`` for one bot token, as api.telegram.org answers it."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.post("/bot{token}/sendMessage")
        async def send(token: str, request: Request) -> JSONResponse:
            if token != self.token:
                return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
            body = await request.json()
            if not body.get("chat_id") or not body.get("text"):
                return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request"}, status_code=400)
            self.messages.append(body)
            return JSONResponse({"ok": True, "result": {"message_id": len(self.messages), "text": body["text"]}})


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for 127.0.0.1 and localhost, made with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


class SmtpPeer:
    """An aiosmtpd server on 127.0.0.1; with ``cert`` it offers STARTTLS and requires it
    (before AUTH and MAIL), and accepts ``user``/``password`` logins."""

    def __init__(self, cert: tuple[Path, Path] | None, user: str = "ops", password: str = "") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[Any] = []
        self.tls_sessions = 0
        peer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                peer.messages.append(envelope)
                if session.ssl is not None:
                    peer.tls_sessions += 1
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {}
        if cert is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
            kwargs = {"tls_context": ctx, "require_starttls": True, "authenticator": authenticate, "auth_require_tls": True}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpPeer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@contextmanager
def silent_peer() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung webhook server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
