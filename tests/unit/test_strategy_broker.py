"""Which broker a strategy trades on (seed 004: one broker per strategy, paper by default,
``zerodha_trading_enabled`` -> Zerodha): ``execution.broker`` in a strategy file, ``broker``
of a composition strategy, the row flag of ``strategy_configurations``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from optrunner.bus.routing import strategy_broker, strategy_brokers
from optrunner.config import ConfigError, load_config_file, validate_config
from optrunner.runner_support import row_config
from optrunner.store.records import StrategyConfiguration
from optrunner.strategies.composition import ExecutorConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "configs" / "NIFTY_DNSS.json"


def doc(**execution: object) -> dict:
    d = json.loads(EXAMPLE.read_text())
    if execution:
        d["execution"] = {**d.get("execution", {}), **execution}
    return d


def row(parameters: dict, zerodha: bool, strategy_type: str = "dnss", instruments: tuple = ("NIFTY",)) -> StrategyConfiguration:
    now = datetime.now(UTC)
    return StrategyConfiguration("R1", strategy_type, list(instruments), parameters, True, zerodha, True, now, now)


def test_a_file_names_its_broker_else_the_services_default():
    plain = load_config_file(EXAMPLE)
    assert plain.execution.broker == "paper"
    assert strategy_broker(plain) == "paper" and strategy_broker(plain, "dhan") == "dhan"
    kite, issues = validate_config(doc(broker="kite"), EXAMPLE.parent)
    assert not issues and strategy_broker(kite, "dhan") == "kite"
    zerodha, _ = validate_config(doc(broker="zerodha"), EXAMPLE.parent)
    assert zerodha.execution.broker == "kite"  # the seed's name for it
    paper, _ = validate_config(doc(broker="paper"), EXAMPLE.parent)
    assert strategy_broker(paper, "kite") == "paper"  # named explicitly: not the default
    assert strategy_brokers([plain.model_copy(update={"name": "A"}), kite], "paper") == {"A": "paper", kite.name: "kite"}


def test_an_unknown_broker_is_refused_with_the_choices():
    config, issues = validate_config(doc(broker="fyers"), EXAMPLE.parent)
    assert config is None
    [issue] = [i for i in issues if "broker" in i.path]
    assert "paper, kite, dhan, shoonya" in issue.message


def test_a_composition_strategy_names_its_broker():
    base = {"name": "M1", "strategy": "momentum", "instruments": ["NIFTY:20261229:24000:CE"]}
    assert strategy_broker(ExecutorConfig(**base)) == "paper"
    assert strategy_broker(ExecutorConfig(**base, broker="zerodha")) == "kite"


def test_a_row_with_zerodha_trading_enabled_trades_on_kite():
    file_doc = {**doc(), "name": "R1"}
    assert strategy_broker(row_config(row(file_doc, zerodha=True), EXAMPLE.parent)) == "kite"
    assert strategy_broker(row_config(row(file_doc, zerodha=False), EXAMPLE.parent)) == "paper"
    seed = ({"lookback": 5}, "momentum", ("NIFTY:20261229:24000:CE",))  # seed 004's composition row
    assert strategy_broker(row_config(row(seed[0], True, *seed[1:]))) == "kite"
    assert strategy_broker(row_config(row(seed[0], False, *seed[1:]))) == "paper"
    with pytest.raises(ConfigError):  # the flag does not hide a bad document
        row_config(row({**file_doc, "execution": {"broker": "nope"}}, zerodha=False), EXAMPLE.parent)
