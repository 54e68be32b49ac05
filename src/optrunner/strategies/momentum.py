"""Rule-based momentum: buy when the price has risen more than ``threshold`` over ``lookback`` ticks.

``m = (p_now - p_then) / p_then`` where ``p_then`` is the oldest of the last ``lookback``
ticks (the current one included). ``m > threshold`` -> BUY, ``m < -threshold`` -> SELL,
else nothing. The rule holds for many ticks in a row; the executor's position awareness,
not the processor, is what keeps that from becoming many orders.
"""

from __future__ import annotations

from collections.abc import Sequence

from optrunner.config.kinds import MomentumParameters
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


class MomentumProcessor:
    name = "momentum"

    def __init__(
        self, strategy_id: str, lookback: int = 20, threshold: float = 0.01, lots: int = 1
    ) -> None:
        self.strategy_id = strategy_id
        self.lookback = lookback
        self.threshold = threshold
        self.lots = lots
        self._units: dict[str, int] = {}

    def get_required_history_length(self) -> int:
        return self.lookback

    def supports_instrument(self, instrument: str) -> bool:
        return True

    def process_tick(self, tick: TickEvent, history: Sequence[TickEvent]) -> Signal | None:
        if len(history) < self.lookback:
            return None
        then = history[-self.lookback].ltp
        if not then > 0.0:  # also false for NaN
            return None
        m = (tick.ltp - then) / then
        if m > self.threshold:
            side = SignalType.BUY
        elif m < -self.threshold:
            side = SignalType.SELL
        else:
            return None
        units = self._units.get(tick.instrument)
        if units is None:
            units = self._units[tick.instrument] = units_for(tick.instrument, self.lots)
        # confidence 0.5 at the threshold, 1.0 at twice it and beyond
        confidence = min(1.0, abs(m) / (2.0 * self.threshold))
        return Signal(
            self.strategy_id,
            tick.instrument,
            side,
            units,
            tick.ltp,
            confidence,
            tick.ts,
            {"momentum": m},
        )


@register_strategy("momentum")
def create_momentum_strategy(config: ExecutorConfig) -> StrategyExecutor:
    def make(c: ExecutorConfig) -> MomentumProcessor:
        return MomentumProcessor(c.name, **parse_parameters(MomentumParameters, c).model_dump())

    return build_executor(config, make)
