"""The shared live-broker layer: settings, tokens, redaction, the REST client's error taxonomy,
the daily instrument-master cache and client-id tags."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from optrunner.core.errors import UserError
from optrunner.core.timeutil import IST
from optrunner.execution.brokers.base import BrokerUnreachable
from optrunner.execution.brokers.live.adapter import tag_for
from optrunner.execution.brokers.live.errors import (
    BadAnswer,
    BrokerRefused,
    NotSent,
    PossiblySent,
    RateLimited,
    SessionExpired,
)
from optrunner.execution.brokers.live.http import RestClient
from optrunner.execution.brokers.live.master import InstrumentMasterCache
from optrunner.execution.brokers.live.secrets import Secret, install_log_redaction, redact
from optrunner.execution.brokers.live.settings import load_settings
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore, next_ist_time


def test_next_ist_six_am() -> None:
    # 2026-12-05 10:00 IST -> next day 06:00 IST; 05:59 IST -> same day 06:00
    assert next_ist_time(datetime(2026, 12, 5, 4, 30, tzinfo=UTC), time(6)) == datetime(2026, 12, 6, 6, 0, tzinfo=IST)
    assert next_ist_time(datetime(2026, 12, 5, 0, 29, tzinfo=UTC), time(6)) == datetime(2026, 12, 5, 6, 0, tzinfo=IST)


def test_token_store_mode_expiry_and_refusals(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tok")
    now = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
    tok = SessionToken("kite", Secret("access-token-abcdef"), next_ist_time(now, time(6)), "AB1234", now)
    p = store.save(tok)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    back = store.load("kite")
    assert back is not None and back.access_token.value == "access-token-abcdef" and back.user_id == "AB1234"
    assert store.require_valid("kite", now) == back
    with pytest.raises(UserError, match=r"expired at 2026-12-06 06:00 IST.*optrunner broker login kite"):
        store.require_valid("kite", now + timedelta(days=1))
    with pytest.raises(UserError, match="no dhan session"):
        store.require_valid("dhan", now)
    os.chmod(p, 0o644)
    with pytest.raises(UserError, match="readable by other users"):
        store.load("kite")


def test_settings_env_overrides_file_and_secret_never_prints(tmp_path: Path) -> None:
    f = tmp_path / "secrets.json"
    f.write_text(json.dumps({"kite": {"api_key": "key-from-file", "api_secret": "s3cr3t-from-file",
                                      "api_root": "http://file.example"}}))  # fmt: skip
    f.chmod(0o600)
    env = {"OPTRUNNER_KITE_API_ROOT": "http://127.0.0.1:9/", "OPTRUNNER_SECRETS_FILE": str(f)}
    s = load_settings("kite", api_root="https://api.kite.trade", ws_root="wss://ws.kite.trade", environ=env)
    assert (s.api_root, s.ws_root, s.api_key) == ("http://127.0.0.1:9", "wss://ws.kite.trade", "key-from-file")
    assert s.api_secret is not None and s.api_secret.value == "s3cr3t-from-file"
    assert "s3cr3t-from-file" not in repr(s) and "s3cr3t-from-file" not in str(s)
    assert redact("boom s3cr3t-from-file boom") == "boom *** boom"
    f.chmod(0o640)
    with pytest.raises(UserError, match="chmod 600"):
        load_settings("kite", api_root="https://a", ws_root="wss://b", environ=env)
    with pytest.raises(UserError, match="api_root 'ftp://x' is not a URL"):
        load_settings("kite", api_root="ftp://x", ws_root="wss://b", environ={"OPTRUNNER_SECRETS_FILE": str(tmp_path / "no")})
    s2 = load_settings("dhan", api_root="https://a", ws_root="wss://b", environ={"OPTRUNNER_SECRETS_FILE": str(tmp_path / "no")})
    with pytest.raises(UserError, match="OPTRUNNER_DHAN_API_KEY"):
        s2.require("api_key")


def test_log_redaction(caplog: pytest.LogCaptureFixture) -> None:
    Secret("tok-XYZ-123456789")
    install_log_redaction(logging.getLogger())
    caplog.handler.addFilter(logging.getLogger().filters[0])
    logging.getLogger("optrunner.test").warning("sent with %s", "tok-XYZ-123456789")
    assert "tok-XYZ-123456789" not in caplog.text and "sent with ***" in caplog.text


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *a: object) -> None:
        pass

    def do_GET(self) -> None:
        code, ctype, body = {
            "/ok": (200, "application/json", b'{"status":"success","data":1}'),
            "/429": (429, "application/json", b'{"status":"error","message":"Too many requests"}'),
            "/502": (502, "text/html", b"<html>bad gateway</html>"),
            "/403": (403, "application/json", b'{"status":"error","error_type":"TokenException","message":"expired tok-XYZ-123456789"}'),
            "/400": (400, "application/json", b'{"status":"error","message":"Insufficient funds"}'),
            "/garbled": (200, "application/json", b'{"status":"succ'),
            "/csv": (200, "text/csv", b"a,b\n1,2\n"),
        }[self.path]  # fmt: skip
        if self.path == "/slow":
            return
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_rest_client_taxonomy() -> None:
    Secret("tok-XYZ-123456789")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = RestClient(f"http://127.0.0.1:{srv.server_port}", timeout=2)
        assert c.request("GET", "/ok") == {"status": "success", "data": 1}
        assert c.request("GET", "/csv") == b"a,b\n1,2\n"
        for path, exc in (("/429", RateLimited), ("/502", PossiblySent), ("/403", SessionExpired),
                          ("/400", BrokerRefused), ("/garbled", BadAnswer)):  # fmt: skip
            with pytest.raises(exc) as info:
                c.request("GET", path)
            assert "tok-XYZ-123456789" not in str(info.value)
        with pytest.raises(BrokerRefused, match="Insufficient funds"):
            c.request("GET", "/400")
    finally:
        srv.shutdown()
        srv.server_close()
    dead = RestClient(f"http://127.0.0.1:{srv.server_port}", timeout=1)
    with pytest.raises(NotSent) as info:
        dead.request("GET", "/ok")
    assert isinstance(info.value, BrokerUnreachable)  # the order manager may resend it


def test_master_downloaded_once_per_ist_day(tmp_path: Path) -> None:
    calls: list[int] = []

    def fetch() -> bytes:
        calls.append(1)
        return f"v{len(calls)}".encode()

    cache = InstrumentMasterCache("kite", fetch, tmp_path)
    morning = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)  # 08:30 IST
    assert cache.get(morning) == b"v1"
    assert cache.get(morning + timedelta(hours=6)) == b"v1"
    assert cache.get(morning + timedelta(days=1)) == b"v2"
    assert len(calls) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["kite-2026-12-04.csv", "kite-2026-12-05.csv"]


def test_tags_fit_the_broker_and_are_stable() -> None:
    t = tag_for("IRON_CONDOR_WEEKLY-000012-s2")
    assert len(t) == 20 and t.isalnum() and t == tag_for("IRON_CONDOR_WEEKLY-000012-s2")
    assert t != tag_for("IRON_CONDOR_WEEKLY-000012-s3")
    assert tag_for("ABC123") == "ABC123"
