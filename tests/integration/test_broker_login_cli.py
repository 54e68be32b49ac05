"""`optrunner broker login dhan|shoonya` and `optrunner broker status` against the fakes.

A user's daily login: credentials from the environment, the session stored 0600 with its
expiry, one ``error:`` line (exit 2) for a refused login, and no credential ever printed.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner

from fakes import dhan_server, shoonya_server
from fakes.server_thread import ServerThread
from optrunner.cli import app


@pytest.fixture
def servers() -> Iterator[tuple[dhan_server.DhanFake, ServerThread, shoonya_server.ShoonyaFake, ServerThread]]:
    d, s = dhan_server.DhanFake(), shoonya_server.ShoonyaFake()
    with ServerThread(dhan_server.create_app(d)) as ds, ServerThread(shoonya_server.create_app(s)) as ss:
        yield d, ds, s, ss


def run(tmp: Path, env: dict[str, str], *args: str):
    base = {"COLUMNS": "200", "OPTRUNNER_TOKEN_DIR": str(tmp / "tokens"), "OPTRUNNER_SECRETS_FILE": str(tmp / "none.json")}
    result = CliRunner().invoke(app, ["broker", *args], env=base | env)
    assert "Traceback" not in result.output, result.output
    return result


def dhan_env(fake: dhan_server.DhanFake, server: ServerThread, token: str | None = None) -> dict[str, str]:
    return {"OPTRUNNER_DHAN_API_ROOT": server.url + "/v2", "OPTRUNNER_DHAN_USER_ID": fake.client_id,
            "OPTRUNNER_DHAN_ACCESS_TOKEN": token or fake.access_token}  # fmt: skip


def shoonya_env(fake: shoonya_server.ShoonyaFake, server: ServerThread) -> dict[str, str]:
    return {"OPTRUNNER_SHOONYA_API_ROOT": server.url, "OPTRUNNER_SHOONYA_USER_ID": fake.uid,
            "OPTRUNNER_SHOONYA_API_SECRET": fake.api_secret, "OPTRUNNER_SHOONYA_PASSWORD": fake.password,
            "OPTRUNNER_SHOONYA_TOTP_SECRET": fake.totp_secret, "OPTRUNNER_SHOONYA_VENDOR_CODE": fake.vendor_code}  # fmt: skip


def test_dhan_login_stores_the_token_0600_and_status_shows_its_expiry(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d, ds, _, _ = servers
    r = run(tmp_path, dhan_env(d, ds), "login", "dhan")
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "dhan: logged in as 1000000001; the session expires 2099-12-31 15:30 IST" in out
    assert d.access_token not in r.output
    p = tmp_path / "tokens" / "dhan.json"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600 and d.access_token in p.read_text()
    r = run(tmp_path, {}, "status")
    row = next(line for line in r.output.splitlines() if "dhan" in line)
    assert r.exit_code == 0 and "1000000001" in row and "2099-12-31 15:30" in row and "valid" in row


def test_dhan_refused_token_is_one_error_line_without_the_token(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d, ds, _, _ = servers
    r = run(tmp_path, dhan_env(d, ds, "dhan-wrong-token-1234567890"), "login", "dhan")
    assert r.exit_code == 2 and r.output.startswith("error: Dhan refused the access token")
    assert "dhan-wrong-token" not in r.output and not (tmp_path / "tokens" / "dhan.json").exists()


def test_shoonya_login_with_totp_key_or_typed_code(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, s, ss = servers
    r = run(tmp_path, shoonya_env(s, ss), "login", "shoonya")
    assert r.exit_code == 0, r.output
    assert "shoonya: logged in as FA12345" in r.output and s.logins == 1
    env = shoonya_env(s, ss) | {"OPTRUNNER_SHOONYA_TOTP_SECRET": ""}
    r = run(tmp_path, env, "login", "shoonya", "--otp", pyotp.TOTP(s.totp_secret).now())
    assert r.exit_code == 0 and s.logins == 2
    r = run(tmp_path, env, "login", "shoonya", "--otp", "000000")
    assert r.exit_code == 2 and "error: Shoonya login failed" in r.output and "Wrong Password Or TOTP" in r.output
    r = run(tmp_path, env, "login", "shoonya")
    assert r.exit_code == 2 and "missing totp_secret" in r.output
    r = run(tmp_path, shoonya_env(s, ss), "login", "shoonya", "--request-token", "abc")
    assert r.exit_code == 2 and "--request-token does not apply to shoonya" in r.output
    for secret in (s.password, s.api_secret, s.totp_secret):
        assert secret not in r.output


def test_unknown_broker_is_a_clear_error(tmp_path: Path) -> None:
    r = run(tmp_path, {}, "login", "zerodha-pro")
    assert r.exit_code == 2 and "no login flow for broker 'zerodha-pro'; one of: breeze, dhan, kite, shoonya" in r.output
