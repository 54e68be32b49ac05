"""The ML momentum processor with a real scikit-learn model trained here, and its load failures."""

from __future__ import annotations

import itertools
import json
import logging
import math
from datetime import datetime, timedelta

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from optrunner.core.events import TickEvent
from optrunner.core.timeutil import IST
from optrunner.runner import StrategyRunner
from optrunner.strategies.composition import ExecutorConfig, StrategyExecutor
from optrunner.strategies.ml import ModelLoadError, create_ml_momentum_processor, momentum_features
from optrunner.strategies.registry import create_strategy
from optrunner.strategies.signals import SignalType

T0 = datetime(2026, 1, 13, 9, 15, tzinfo=IST)
CE = "NIFTY:20260113:25000:CE"


def by_hand(prices: list[float]) -> list[float]:
    """REFERENCE_SYSTEMS §4.4's five features, written out independently of the code under test."""
    returns = [(b - a) / a for a, b in itertools.pairwise(prices)]
    return [
        prices[-1] / prices[0] - 1.0,
        prices[-1] / prices[-5] - 1.0,
        math.sqrt(sum(r * r for r in returns) / len(returns)),
        prices[-1],
        float(len(prices)),
    ]


def path(start: float, step: float, n: int) -> list[float]:
    return [start * (1.0 + step) ** i for i in range(n)]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A logistic model of 'did the window go up', trained on random walks with drift."""
    rng = np.random.default_rng(11)
    X, y = [], []
    for _ in range(600):
        drift = rng.normal(0, 0.004)
        prices = list(100.0 * np.cumprod(1.0 + drift + rng.normal(0, 0.002, 20)))
        X.append(momentum_features(prices))
        y.append(int(prices[-1] > prices[0]))
    X = np.array(X)
    X[:, 3] /= 100.0  # keep the price feature on a scale the solver likes; prices below stay near 1
    model = LogisticRegression(max_iter=2000).fit(X, y)
    out = tmp_path_factory.mktemp("models") / "momentum_v1.joblib"
    joblib.dump(model, out)
    return out, model


def test_features_match_the_reference_definition():
    prices = [100.0, 101.0, 99.5, 102.0, 103.5, 103.0, 104.2]
    np.testing.assert_allclose(momentum_features(prices), by_hand(prices), rtol=1e-12)


def test_rising_prices_buy_falling_prices_sell_with_the_model_probability(model_file):
    path_to_model, model = model_file
    p = create_ml_momentum_processor(
        {"model_path": str(path_to_model), "lookback_periods": 20, "confidence_threshold": 0.6},
        strategy_id="ML",
    )
    rising = [
        TickEvent(T0 + timedelta(minutes=i), CE, x) for i, x in enumerate(path(1.0, 0.01, 20))
    ]
    buy = p.process_tick(rising[-1], rising)
    expected_up = model.predict_proba(np.array([by_hand([t.ltp for t in rising])]))[0][
        list(model.classes_).index(1)
    ]
    assert (
        buy.signal_type is SignalType.BUY
        and buy.confidence == pytest.approx(expected_up)
        and expected_up > 0.6
    )
    assert buy.quantity == 65 and buy.price == rising[-1].ltp and buy.strategy_id == "ML"
    falling = [
        TickEvent(T0 + timedelta(minutes=i), CE, x) for i, x in enumerate(path(1.0, -0.01, 20))
    ]
    sell = p.process_tick(falling[-1], falling)
    assert sell.signal_type is SignalType.SELL and 0.6 < sell.confidence <= 1.0
    assert p.process_tick(rising[3], rising[:4]) is None  # fewer than 5 ticks: no 5-tick momentum


def test_an_ml_executor_trades_once_on_a_persistent_trend(model_file):
    path_to_model, _ = model_file
    ex = create_strategy(
        ExecutorConfig(name="ML", strategy="ml_momentum", instruments=(CE,),
                       parameters={"model_path": str(path_to_model), "lookback_periods": 10})
    )  # fmt: skip
    assert isinstance(ex, StrategyExecutor)
    intents = [
        i
        for k, x in enumerate(path(1.0, 0.01, 30))
        for i in ex.on_tick(TickEvent(T0 + timedelta(minutes=k), CE, x))
    ]
    assert [(i.side.value, i.quantity) for i in intents] == [("BUY", 65)]


def test_models_that_cannot_be_used_raise_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="model file not found"):
        create_ml_momentum_processor({"model_path": str(tmp_path / "missing.joblib")})
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(ModelLoadError, match="could not load the model"):
        create_ml_momentum_processor({"model_path": str(garbage)})
    X = np.random.default_rng(0).normal(size=(50, 3))
    three = tmp_path / "three.joblib"
    joblib.dump(LogisticRegression().fit(X, X[:, 0] > 0), three)
    with pytest.raises(ModelLoadError, match="expects 3 features"):
        create_ml_momentum_processor({"model_path": str(three)})
    X5 = np.random.default_rng(0).normal(size=(50, 5))
    regressor = tmp_path / "regressor.joblib"
    joblib.dump(LinearRegression().fit(X5, X5[:, 0]), regressor)
    with pytest.raises(ModelLoadError, match="no predict_proba"):
        create_ml_momentum_processor({"model_path": str(regressor)})
    labels = tmp_path / "labels.joblib"
    joblib.dump(LogisticRegression().fit(X5, np.where(X5[:, 0] > 0, 2, 1)), labels)
    with pytest.raises(ModelLoadError, match=r"classes are \[1, 2\]"):
        create_ml_momentum_processor({"model_path": str(labels)})


def test_the_loader_skips_a_strategy_whose_model_fails_and_keeps_the_others(
    tmp_path, model_file, caplog
):
    from optrunner.data.seed_db import write_seed_db
    from optrunner.data.snapshot import ChainSnapshot

    snap = ChainSnapshot.from_columns(
        "NIFTY",
        T0,
        25000.0,
        {"strike": [25000.0], "right": ["CE"], "expiry": np.datetime64("2026-01-13")},
    )
    write_seed_db(tmp_path / "nifty.sqlite", snap)
    base = {
        "enabled": True,
        "market_config": {
            "market_type": "database_market",
            "exchange": "NFO",
            "symbol": "NIFTY",
            "db_path": "nifty.sqlite",
        },
        "entry": {
            "entry_time": "09:30",
            "target_ce_delta": 0.3,
            "target_pe_delta": 0.3,
            "quantity": 1,
        },
        "adjustment": {"enabled": False},
        "exit": {"exit_time": "15:15"},
    }
    for name in ("ML_GOOD", "ML_MISSING"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, **base}))
    models = {"ML_GOOD": str(model_file[0]), "ML_MISSING": str(tmp_path / "momentum_v1.joblib")}

    def factory(cfg):
        return create_strategy(
            ExecutorConfig(name=cfg.name, strategy="ml_momentum", instruments=(CE,),
                           parameters={"model_path": models[cfg.name]})
        )  # fmt: skip

    runner = StrategyRunner()
    with caplog.at_level(logging.ERROR):
        results = runner.load_strategies_from_json(tmp_path, strategy_factory=factory)
    assert results == {"ML_GOOD": True, "ML_MISSING": False}
    assert (
        "ModelLoadError" in caplog.text
        and "momentum_v1.joblib: model file not found" in caplog.text
    )
