"""The account settings' ``alerts`` section: errors with their JSON path, secrets read from
the environment (or inline) and never dumped, the seed's per-strategy ``alert_email``."""

from __future__ import annotations

import json

import pytest

from optrunner.alerts.settings import AlertSettings, describe, resolve
from optrunner.config.account import AccountSettings, load_account
from optrunner.config.operations import MonitoringConfig
from optrunner.core.errors import UserError

TOKEN = "777:inline-bot-token-secret"
PASSWORD = "inline-smtp-password-secret"


def write(tmp_path, text: str):
    path = tmp_path / "account.yaml"
    path.write_text(text)
    return path


def test_every_problem_is_reported_with_its_path(tmp_path) -> None:
    path = write(tmp_path, """
alerts:
  webhook: {url: "ftp://hooks.example.com/x?key=s3cr3t-value"}
  telegram: {chat_id: "1"}
  email: {host: smtp.example.com, sender: not-an-address, to: [ops@example.com], port: 0}
  rate_limit: {max_alerts: 0}
  dedup_second: 5
""")
    with pytest.raises(UserError) as err:
        load_account(path)
    text = err.value.message
    for where in ("alerts.webhook: is not an http:// or https:// URL",
                  "alerts.telegram: give bot_token_env (an environment variable's name) or bot_token",
                  "alerts.email.port: must be greater than or equal to 1",
                  'alerts.email.sender: "not-an-address" is not an e-mail address',
                  "alerts.rate_limit.max_alerts: must be greater than or equal to 1",
                  "alerts.dedup_second: Extra inputs are not permitted"):  # fmt: skip
        assert where in text, (where, text)
    assert "s3cr3t-value" not in text  # a URL is not repeated: its query may be a secret


def test_secrets_come_from_the_environment_and_are_never_dumped(tmp_path) -> None:
    path = write(tmp_path, f"""
alerts:
  webhook: {{url_env: HOOK_URL}}
  telegram: {{chat_id: "-100", bot_token: "{TOKEN}"}}
  email: {{host: smtp.example.com, username: ops, password: "{PASSWORD}", sender: o@example.com, to: [ops@example.com]}}
""")
    settings, _ = load_account(path)
    secrets = resolve(settings.alerts, {"HOOK_URL": "https://hooks.example.com/h?token=abcdef123"})
    assert secrets.webhook_url == "https://hooks.example.com/h?token=abcdef123"
    assert secrets.telegram_token == TOKEN and secrets.smtp_password == PASSWORD
    assert "abcdef123" in secrets.values()  # the query's value is scrubbed from logs too
    dumped = json.dumps(settings.record(path)) + repr(settings) + str(settings.alerts) + json.dumps(describe(settings.alerts))
    for secret in (TOKEN, PASSWORD):
        assert secret not in dumped
    assert settings.record(path)["alerts"]["telegram"]["bot_token"] == "**********"


def test_a_missing_or_malformed_variable_is_an_error_with_its_path() -> None:
    s = AlertSettings(webhook={"url_env": "HOOK_URL"}, email={"host": "h", "username": "u", "password_env": "SMTP_PW",
                                                             "sender": "o@example.com"})  # fmt: skip
    with pytest.raises(UserError, match=r"alerts\.webhook.url_env: environment variable HOOK_URL is not set"):
        resolve(s, {"SMTP_PW": "x"})
    with pytest.raises(UserError, match=r"alerts\.webhook.url_env: HOOK_URL is not an http"):
        resolve(s, {"HOOK_URL": "hooks.example.com/x", "SMTP_PW": "x"})
    with pytest.raises(UserError, match=r"alerts\.email.password_env: environment variable SMTP_PW is not set"):
        resolve(s, {"HOOK_URL": "https://h.example.com"})


def test_defaults_send_nowhere() -> None:
    s = AccountSettings().alerts
    assert (s.webhook, s.telegram, s.email) == (None, None, None) and s.enabled
    assert resolve(s, {}).values() == []


def test_the_seeds_alert_email_is_accepted_per_strategy() -> None:
    m = MonitoringConfig.model_validate({"alert_enabled": True, "alert_email": " desk@example.com ",
                                         "alert_webhook": "https://hooks.example.com/a"})  # fmt: skip
    assert m.alert_email == "desk@example.com"


def test_a_secrets_file_is_read_first_and_must_be_private(tmp_path) -> None:
    f = tmp_path / "alerts.env"
    f.write_text(f"# alert secrets\nexport TG_TOKEN='{TOKEN}'\nSMTP_PW={PASSWORD}\n\n")
    f.chmod(0o600)
    s = AlertSettings(secrets_file=str(f), telegram={"chat_id": "1", "bot_token_env": "TG_TOKEN"},
                      email={"host": "h", "username": "u", "password_env": "SMTP_PW", "sender": "o@example.com"})  # fmt: skip
    secrets = resolve(s, {"TG_TOKEN": "from-the-environment"})
    assert secrets.telegram_token == TOKEN and secrets.smtp_password == PASSWORD  # the file wins
    f.chmod(0o644)
    with pytest.raises(UserError, match="readable by other users") as err:
        resolve(s, {})
    assert TOKEN not in err.value.message
    f.chmod(0o600)
    f.write_text(f"TG_TOKEN {TOKEN}\n")
    with pytest.raises(UserError, match="line 1 is not NAME=value") as err:
        resolve(s, {})
    assert TOKEN not in err.value.message
    with pytest.raises(UserError, match="cannot read"):
        resolve(s.model_copy(update={"secrets_file": str(tmp_path / "missing.env")}), {})
