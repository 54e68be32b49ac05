"""The ``legs`` strategy kind: a multi-leg structure from a file (see ``strategy.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from optrunner.strategies.legs.strategy import LegsStrategy, Phase
from optrunner.strategies.registry import register_strategy

if TYPE_CHECKING:
    from optrunner.config import StrategyConfig


@register_strategy("legs")
def create_legs(config: StrategyConfig) -> LegsStrategy:
    return LegsStrategy(config)


__all__ = ["LegsStrategy", "Phase", "create_legs"]
