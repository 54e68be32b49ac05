"""The low-frequency demo: at most one signal per instrument every ``min_interval_seconds``.

It exists to prove the whole path (feed -> runner -> risk -> orders -> fills) end to end
without flooding anything: a handful of signals a day. ``side="alternate"`` buys, then
sells, then buys again, so with the position-aware executor it opens and closes a small
position on a slow cycle. Time is the ticks' own timestamps, so a replay behaves like live.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from optrunner.config.kinds import LowFrequencyDemoParameters
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


class LowFrequencyDemoProcessor:
    name = "low_frequency_demo"

    def __init__(
        self,
        strategy_id: str,
        min_interval_seconds: float = 900.0,
        side: str = "alternate",
        lots: int = 1,
    ) -> None:
        self.strategy_id = strategy_id
        self.min_interval_seconds = min_interval_seconds
        self.side = side
        self.lots = lots
        self._last_ts: dict[str, datetime] = {}
        self._last_side: dict[str, SignalType] = {}

    def get_required_history_length(self) -> int:
        return 1

    def supports_instrument(self, instrument: str) -> bool:
        return True

    def _next_side(self, instrument: str) -> SignalType:
        if self.side != "alternate":
            return SignalType(self.side)
        return (
            SignalType.SELL if self._last_side.get(instrument) is SignalType.BUY else SignalType.BUY
        )

    def process_tick(self, tick: TickEvent, history: Sequence[TickEvent]) -> Signal | None:
        if not tick.ltp > 0.0:
            return None
        last = self._last_ts.get(tick.instrument)
        if last is not None and (tick.ts - last).total_seconds() < self.min_interval_seconds:
            return None
        side = self._next_side(tick.instrument)
        self._last_ts[tick.instrument] = tick.ts
        self._last_side[tick.instrument] = side
        units = units_for(tick.instrument, self.lots)
        return Signal(
            self.strategy_id, tick.instrument, side, units, tick.ltp, 1.0, tick.ts, {"demo": True}
        )

    def get_state(self) -> dict[str, Any]:
        return {
            "last_ts": {k: v.isoformat() for k, v in self._last_ts.items()},
            "last_side": {k: v.value for k, v in self._last_side.items()},
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        self._last_ts = {k: datetime.fromisoformat(v) for k, v in state.get("last_ts", {}).items()}
        self._last_side = {k: SignalType(v) for k, v in state.get("last_side", {}).items()}


@register_strategy("low_frequency_demo")
def create_low_frequency_demo_strategy(config: ExecutorConfig) -> StrategyExecutor:
    def make(c: ExecutorConfig) -> LowFrequencyDemoProcessor:
        return LowFrequencyDemoProcessor(
            c.name, **parse_parameters(LowFrequencyDemoParameters, c).model_dump()
        )

    return build_executor(config, make)
