"""Per-strategy limits from the strategy file's ``risk_management`` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StrategyLimits:
    """All optional except max_concurrent_legs (seed default 2). Units:

    max_position_size: lots in any one contract; max_total_loss / max_daily_loss: rupees of
    net P&L; notional_value_limit: rupees of sum(|qty| x strike); vega_limit: rupees per vol
    point of the net position; gamma_limit: delta change per index point of the net position.
    """

    max_concurrent_legs: int = 2
    max_position_size: float | None = None
    max_total_loss: float | None = None
    max_daily_loss: float | None = None
    notional_value_limit: float | None = None
    vega_limit: float | None = None
    gamma_limit: float | None = None

    @classmethod
    def from_config(cls, risk_management: Any) -> StrategyLimits:
        """From a ``risk_management`` model (or None for the defaults)."""
        if risk_management is None:
            return cls()
        return cls(**{name: getattr(risk_management, name) for name in cls.__slots__})
