"""`optrunner broker login kite` against the fake Kite: the local redirect listener catches the
request token, the SDK exchanges it (checksum as Kite documents), the session is stored mode
0600 with its 06:00 IST expiry, `broker status` shows it, and no secret is printed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kite_cases import settings_env, start_fake

from fakes.kite_server import API_KEY, API_SECRET, REQUEST_TOKEN, free_port
from optrunner.core.errors import RunFailed
from optrunner.core.timeutil import IST
from optrunner.execution.brokers.kite.auth import checksum, exchange_request_token
from optrunner.execution.brokers.kite.config import kite_settings
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "optrunner.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def test_checksum_is_kites_documented_sha256() -> None:
    import hashlib

    assert checksum("k", "r", "s") == hashlib.sha256(b"krs").hexdigest()


def test_login_command_end_to_end_and_status(tmp_path: Path) -> None:
    fake = start_fake()
    try:
        port = free_port()
        env = os.environ | settings_env(fake, tmp_path) | {
            "OPTRUNNER_TOKEN_DIR": str(tmp_path / "tokens"), "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}  # fmt: skip
        proc = cli("broker", "login", "kite", "--port", str(port), "--no-browser", "--timeout", "20", env=env)
        url = f"http://127.0.0.1:{port}/?action=login&type=login&status=success&request_token={REQUEST_TOKEN}"
        end = time.monotonic() + 15
        while True:  # the "browser" follows Kite's redirect once the listener is up
            try:
                assert urllib.request.urlopen(url, timeout=2).status == 200
                break
            except OSError:
                assert time.monotonic() < end and proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        path = tmp_path / "tokens" / "kite.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        doc = json.loads(path.read_text())
        assert doc["access_token"] in fake.tokens and doc["user_id"] == "ZZ0001"
        exp = datetime.fromisoformat(doc["expires_at"]).astimezone(IST)
        assert (exp.hour, exp.minute) == (6, 0) and timedelta(0) < exp - datetime.now(UTC) <= timedelta(days=1)
        assert "logged in as ZZ0001" in out and f"{exp:%Y-%m-%d} 06:00 IST" in out
        for secret in (doc["access_token"], API_SECRET, REQUEST_TOKEN):
            assert secret not in out
        from typer.testing import CliRunner

        from optrunner.cli_app import app

        os.environ["OPTRUNNER_TOKEN_DIR"] = str(tmp_path / "tokens")
        try:
            r = CliRunner().invoke(app, ["broker", "status"], terminal_width=200)
            assert r.exit_code == 0 and "kite" in r.output and "valid" in r.output
            assert doc["access_token"] not in r.output
            # an expired session is shown as such
            TokenStore(tmp_path / "tokens").save(SessionToken("kite", Secret("old-token-123456"),
                                                              datetime(2026, 1, 1, tzinfo=UTC)))  # fmt: skip
            r = CliRunner().invoke(app, ["broker", "status"], terminal_width=200)
            assert "expired" in r.output and "log in again" in r.output
        finally:
            del os.environ["OPTRUNNER_TOKEN_DIR"]
    finally:
        fake.stop()


def test_a_refused_login_is_one_clear_error_without_secrets(tmp_path: Path) -> None:
    fake = start_fake()
    try:
        settings = kite_settings(environ=settings_env(fake, tmp_path))
        with pytest.raises(RunFailed, match="Kite refused the login") as info:
            exchange_request_token(settings, "not-the-request-token")
        assert API_SECRET not in str(info.value) and API_KEY in settings.api_key
    finally:
        fake.stop()
