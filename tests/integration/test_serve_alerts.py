"""`optrunner serve` with alert channels from the account settings, as a user runs it: the
secrets come from environment variables, the startup line names the channels (never a
secret), an operator's kill-switch change reaches a webhook and a Telegram Bot API peer on
127.0.0.1, and the per-strategy ``monitoring.alert_webhook`` gets its strategy's alerts.
A missing variable stops the service before the session opens, naming its JSON path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from test_service_e2e import free_port, wait_until
from typer.testing import CliRunner

from alert_peers import TelegramPeer, WebhookPeer, http_peer
from optrunner.cli import app
from service_cases import DAY, STRATEGY, TOKEN, make_case

pytestmark = pytest.mark.slow
BOT_TOKEN = "4242:serve-test-bot-token"
HOOK_SECRET = "serve-hook-secret-77"


def account(tmp_path: Path, telegram_root: str) -> Path:
    path = tmp_path / "account.yaml"
    path.write_text(yaml.safe_dump({"alerts": {
        "webhook": {"url_env": "TEST_ALERT_WEBHOOK"},
        "telegram": {"chat_id": "-1001", "bot_token_env": "TEST_TELEGRAM_TOKEN", "api_root": telegram_root},
    }}))  # fmt: skip
    return path


def test_serve_sends_alerts_to_the_account_and_strategy_channels(tmp_path) -> None:
    catalog, configs = make_case(tmp_path)
    cfg_path = next(configs.glob("*.json"))
    hook, own, bot = WebhookPeer(), WebhookPeer(), TelegramPeer(BOT_TOKEN)
    with http_peer(hook.app) as hook_base, http_peer(own.app) as own_base, http_peer(bot.app) as bot_base:
        cfg = json.loads(cfg_path.read_text())
        cfg["monitoring"] = {"alert_webhook": f"{own_base}/hook"}
        cfg_path.write_text(json.dumps(cfg))
        port = free_port()
        env = {**os.environ, "OPTRUNNER_API_TOKEN": TOKEN, "TEST_TELEGRAM_TOKEN": BOT_TOKEN,
               "TEST_ALERT_WEBHOOK": f"{hook_base}/hook?key={HOOK_SECRET}"}  # fmt: skip
        cmd = [sys.executable, "-m", "optrunner.cli", "serve", "--config-dir", str(configs), "--data", str(catalog),
               "--date", DAY.isoformat(), "--store", f"sqlite:///{tmp_path / 's.sqlite'}", "--port", str(port),
               "--pace-ms", "20", "--account", str(account(tmp_path, bot_base))]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                wait_until(lambda: http.get("/api/health").status_code == 200, 60, "the service to answer")
                auth = {"Authorization": f"Bearer {TOKEN}"}
                assert http.post("/api/trading/disable", headers=auth, json={"reason": "lunch"}).status_code == 200
                wait_until(lambda: hook.bodies and bot.messages, 10, "the kill-switch alert at both channels")
                wait_until(lambda: http.post(f"/api/strategies/{STRATEGY}/disable", headers=auth).status_code == 200,
                           10, "the strategy halt")  # fmt: skip
                wait_until(lambda: any(b["rule"] == "strategy_halt" for b in own.bodies), 10, "its own webhook")
                metrics = http.get("/metrics").text
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "alerts: webhook, telegram; SVC: strategy_webhook" in out
    assert hook.bodies[0]["rule"] == "kill_switch" and "ACTIVE -> REDUCING: lunch" in hook.bodies[0]["message"]
    assert hook.queries[0] == f"key={HOOK_SECRET}"
    assert bot.messages[0]["chat_id"] == "-1001" and "ACTIVE -> REDUCING: lunch" in bot.messages[0]["text"]
    # the kill switch is no one strategy's alert; the halt's alerts (runner, order manager) count as one
    assert [b["rule"] for b in own.bodies] == ["strategy_halt"]
    assert all(b["strategy"] == STRATEGY for b in own.bodies)
    assert 'alerts_sent_total{channel="telegram"}' in metrics
    for secret in (BOT_TOKEN, HOOK_SECRET, TOKEN):
        assert secret not in out and secret not in metrics


def test_serve_stops_on_a_missing_secret_variable_naming_its_path(tmp_path) -> None:
    catalog, configs = make_case(tmp_path)
    env = {"TEST_TELEGRAM_TOKEN": None, "TEST_ALERT_WEBHOOK": "https://hooks.example.com/x", "OPTRUNNER_API_TOKEN": TOKEN}
    r = CliRunner().invoke(app, ["serve", "--config-dir", str(configs), "--data", str(catalog), "--date", DAY.isoformat(),
                                 "--store", f"sqlite:///{tmp_path / 's.sqlite'}", "--port", str(free_port()),
                                 "--account", str(account(tmp_path, "https://api.telegram.org"))], env=env)  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "alerts.telegram.bot_token_env: environment variable TEST_TELEGRAM_TOKEN is not set" in r.output
    assert not (tmp_path / "s.sqlite").exists()  # stopped before the session opened
