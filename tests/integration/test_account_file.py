"""The account settings file: documented defaults, errors with their path, flags over the file,
and every run recording what it actually used (summary.json "settings")."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from optrunner import __version__
from optrunner.cli import app
from optrunner.config.account import AccountSettings, load_account
from optrunner.core.errors import UserError
from optrunner.data.synthetic import generate
from optrunner.risk.account import AccountRisk
from optrunner.risk.kill_switch import KillSwitch
from optrunner.risk.settings import AccountRiskSettings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "account.yaml"


def _leaves(model: type, prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            out += _leaves(annotation, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def _get(doc: dict, dotted: str):
    for key in dotted.split("."):
        doc = doc[key]
    return doc


def test_example_file_spells_out_every_setting_at_its_default():
    doc = yaml.safe_load(EXAMPLE.read_text())
    for path in _leaves(AccountSettings):
        _get(doc, path)  # KeyError names a setting the example does not document
    settings, source = load_account(EXAMPLE)
    assert settings == AccountSettings() and source == EXAMPLE


def test_every_problem_is_reported_with_its_path(tmp_path):
    bad = tmp_path / "account.yaml"
    bad.write_text("capital: 0\nfills:\n  slippage: -1t\nrisk:\n  account:\n    base_max_loss_pct: 2\n  entry_gard: {}\n")
    with pytest.raises(UserError) as err:
        load_account(bad)
    text = err.value.message
    assert text.startswith(f"{bad}: ") and err.value.code == 2
    for where in ("capital: must be greater than 0", "fills.slippage: '-1t'", "risk.account.base_max_loss_pct: must be less than 1",
                  "risk.entry_gard: Extra inputs are not permitted"):  # fmt: skip
        assert where in text, text
    bad.write_text("- a list\n")
    with pytest.raises(UserError, match="an account file is a mapping"):
        load_account(bad)
    with pytest.raises(UserError, match="cannot read it"):
        load_account(tmp_path / "missing.yaml")


def test_flags_override_the_file_and_the_default_file_is_found(tmp_path, monkeypatch):
    (tmp_path / "account.yaml").write_text("capital: 500000\nfills: {slippage: 2t}\n")
    monkeypatch.chdir(tmp_path)
    settings, source = load_account(None, {"capital": None, "fills.latency_ms": 250})
    assert source == Path("account.yaml")
    assert (settings.capital, settings.fills.slippage, settings.fills.latency_ms) == (500_000, "2t", 250)
    settings, _ = load_account(None, {"capital": 200_000, "fills.slippage": "0.1%"})
    assert (settings.capital, settings.fills.slippage) == (200_000, "0.1%")
    assert settings.sim_config().slippage_pct == 0.1


def test_the_losing_day_cool_down_can_be_switched_off():
    def losing_days(settings: AccountRiskSettings) -> str | None:
        risk = AccountRisk(settings, KillSwitch(), capital=1_000_000)
        day = date(2026, 11, 2)  # a Monday
        for i in range(4):
            risk.start_day(day + timedelta(days=i))
            risk.update(-100.0)
        risk.start_day(day + timedelta(days=4))
        return risk.blocks_entries()

    assert "cool-down until 2026-11-09" in (losing_days(AccountRiskSettings()) or "")
    assert losing_days(AccountRiskSettings(max_consecutive_loss_days=None)) is None


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("account")
    generate("NIFTY", date(2026, 11, 16), date(2026, 11, 16), seed=5, out=root / "catalog",
             strikes_each_side=8, progress=False)  # fmt: skip
    shutil.copy(ROOT / "examples" / "configs" / "NIFTY_DNSS.json", root / "my.json")
    return root


def _backtest(work: Path, out: Path, *extra: str) -> dict:
    r = CliRunner().invoke(app, ["backtest", str(work / "my.json"), "--data", str(work / "catalog"), "--out", str(out),
                                 "--no-report", *extra])  # fmt: skip
    assert r.exit_code == 0, r.output
    return json.loads((out / "summary.json").read_text())


def test_a_run_applies_and_records_its_effective_settings(work, tmp_path):
    plain = _backtest(work, tmp_path / "plain")
    assert plain["trades"] >= 1
    s = plain["settings"]
    assert s["code_version"].startswith(__version__) and s["account_file"] is None
    assert s["capital"] == 1_000_000 and s["fills"] == {"slippage": "0", "latency_ms": 0.0}
    assert s["risk"]["no_new_entries_after"] == "14:50:00" and s["risk"]["account"]["max_consecutive_loss_days"] == 3
    assert s["strategy_files"] == [str(work / "my.json")] and s["data"] == str(work / "catalog")

    account = tmp_path / "tight.yaml"
    account.write_text('capital: 400000\nfills: {slippage: 2t}\nrisk: {no_new_entries_after: "09:20"}\n')
    tight = _backtest(work, tmp_path / "tight", "--account", str(account), "--latency", "500")
    s = tight["settings"]
    assert s["account_file"] == str(account) and s["capital"] == 400_000
    assert s["fills"] == {"slippage": "2t", "latency_ms": 500.0}
    assert tight["capital"] == 400_000
    # the 09:30 entry comes after the 09:20 cut-off: the account file really governs the run
    assert tight["trades"] == 0 and tight["rejected_orders"]


def test_a_backtest_built_in_python_records_its_settings_too(work):
    from optrunner.backtest.engine import BacktestSpec, run_backtest
    from optrunner.config import load_config_file
    from optrunner.execution.brokers.simulated import SimConfig

    spec = BacktestSpec([load_config_file(work / "my.json")], work / "catalog", capital=500_000,
                        sim=SimConfig(slippage_ticks=2, latency_ms=100))  # fmt: skip
    s = run_backtest(spec).summary["settings"]
    assert (s["capital"], s["fills"], s["account_file"]) == (500_000, {"slippage": "2t", "latency_ms": 100.0}, None)
    assert s["code_version"].startswith(__version__) and s["risk"]["no_new_entries_after"] == "14:50:00"
