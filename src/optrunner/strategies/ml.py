"""ML momentum: a scikit-learn classifier, from a joblib file the user provides, decides BUY/SELL.

Features, computed from the instrument's recent ticks (REFERENCE_SYSTEMS.md §4.4):
total return over the window, 5-tick momentum, volatility (RMS of tick returns), the
current price and the number of ticks seen (up to ``lookback_periods``). The model must
be a binary classifier over classes {0, 1} with ``predict_proba``: class 1 with probability
above ``confidence_threshold`` -> BUY, class 0 above it -> SELL, else no signal.

A model that cannot be loaded raises ``ModelLoadError`` at construction, so the runner's
loader reports that strategy as failed and skips it (the old system defaulted to a model
file that was not in its repository). joblib files are pickles: load only files you trust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optrunner.config.kinds import MLMomentumParameters
from optrunner.core.events import TickEvent
from optrunner.strategies.composition import (
    ExecutorConfig,
    StrategyExecutor,
    build_executor,
    parse_parameters,
    units_for,
)
from optrunner.strategies.registry import register_strategy
from optrunner.strategies.signals import Signal, SignalType

N_FEATURES = 5
SHORT_MOMENTUM_TICKS = 5


class ModelLoadError(ValueError):
    """The model file is missing, unreadable, or not a usable 5-feature binary classifier."""


def momentum_features(prices: Sequence[float]) -> np.ndarray:
    """The five features of the last ``len(prices)`` prices (at least 5, all positive)."""
    p = np.asarray(prices, dtype=np.float64)
    returns = np.diff(p) / p[:-1]
    return np.array(
        [
            (p[-1] - p[0]) / p[0],
            (p[-1] - p[-SHORT_MOMENTUM_TICKS]) / p[-SHORT_MOMENTUM_TICKS],
            math.sqrt(float(np.mean(returns * returns))),
            p[-1],
            float(len(p)),
        ]
    )


def load_model(path: str | Path) -> Any:
    """The classifier in ``path``, checked for ``predict_proba``, 5 features and classes {0, 1}."""
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: model file not found")
    try:
        import joblib
    except ImportError as exc:
        raise ModelLoadError(
            "ML strategies need the ml extra: pip install 'optrunner[ml]'"
        ) from exc
    try:
        model = joblib.load(p)
    except Exception as exc:  # a pickle can fail in any way; all of them mean "not loadable"
        raise ModelLoadError(
            f"{p}: could not load the model ({type(exc).__name__}: {exc})"
        ) from exc
    if not callable(getattr(model, "predict_proba", None)):
        raise ModelLoadError(
            f"{p}: {type(model).__name__} has no predict_proba — a classifier is needed"
        )
    n = getattr(model, "n_features_in_", None)
    if n is not None and n != N_FEATURES:
        raise ModelLoadError(
            f"{p}: the model expects {n} features, the ML momentum processor gives {N_FEATURES}"
        )
    classes = [int(c) for c in getattr(model, "classes_", ())]
    if sorted(classes) != [0, 1]:
        raise ModelLoadError(
            f"{p}: the model's classes are {classes}, expected [0, 1] (0 = down, 1 = up)"
        )
    return model


class MLMomentumProcessor:
    name = "ml_momentum"

    def __init__(
        self,
        strategy_id: str,
        model: Any,
        lookback_periods: int = 20,
        confidence_threshold: float = 0.6,
        lots: int = 1,
    ) -> None:
        self.strategy_id = strategy_id
        self.model = model
        self.lookback_periods = lookback_periods
        self.confidence_threshold = confidence_threshold
        self.lots = lots
        classes = [int(c) for c in model.classes_]
        self._up, self._down = classes.index(1), classes.index(0)

    def get_required_history_length(self) -> int:
        return self.lookback_periods

    def supports_instrument(self, instrument: str) -> bool:
        return True

    def process_tick(self, tick: TickEvent, history: Sequence[TickEvent]) -> Signal | None:
        if len(history) < SHORT_MOMENTUM_TICKS:
            return None
        prices = [t.ltp for t in history]
        if not all(x > 0.0 for x in prices):  # NaN and non-positive prices give no features
            return None
        features = momentum_features(prices).reshape(1, -1)
        proba = self.model.predict_proba(features)[0]
        p_up, p_down = float(proba[self._up]), float(proba[self._down])
        if p_up > self.confidence_threshold and p_up >= p_down:
            side, confidence = SignalType.BUY, p_up
        elif p_down > self.confidence_threshold:
            side, confidence = SignalType.SELL, p_down
        else:
            return None
        units = units_for(tick.instrument, self.lots)
        return Signal(
            self.strategy_id,
            tick.instrument,
            side,
            units,
            tick.ltp,
            confidence,
            tick.ts,
            {"p_up": p_up},
        )


def create_ml_momentum_processor(
    config: Mapping[str, Any], strategy_id: str = ""
) -> MLMomentumProcessor:
    """A processor from ``{"model_path": ..., "lookback_periods": 20, "confidence_threshold": 0.6, "lots": 1}``.

    Raises ``ModelLoadError`` when the model cannot be used and ValueError on bad parameters.
    """
    params = MLMomentumParameters.model_validate(dict(config))
    values = params.model_dump()
    model = load_model(values.pop("model_path"))
    return MLMomentumProcessor(strategy_id, model, **values)


@register_strategy("ml_momentum")
def create_ml_momentum_strategy(config: ExecutorConfig) -> StrategyExecutor:
    def make(c: ExecutorConfig) -> MLMomentumProcessor:
        params = parse_parameters(MLMomentumParameters, c)
        return create_ml_momentum_processor(params.model_dump(), strategy_id=c.name)

    return build_executor(config, make)
