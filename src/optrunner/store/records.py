"""Records the store returns that have no counterpart in ``optrunner.core``.

Orders and fills come back as :class:`~optrunner.core.orders.Order` and
:class:`~optrunner.core.orders.Fill`; these cover the other tables. Every time is aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from optrunner.core.types import OrderState
from optrunner.instruments.contracts import OptionContract


@dataclass(slots=True, frozen=True)
class OrderEvent:
    """One journaled state transition; ``seq`` orders transitions across all orders."""

    seq: int
    client_id: str
    from_state: OrderState | None
    to_state: OrderState
    ts: datetime
    reason: str
    filled_qty: int
    avg_price: float


@dataclass(slots=True, frozen=True)
class PositionRecord:
    """A strategy's net position in one contract as the portfolio last saved it."""

    strategy: str
    contract: OptionContract
    net_qty: int
    avg_price: float
    realized_pnl: float
    charges: float
    updated_ts: datetime


@dataclass(slots=True, frozen=True)
class JournalEntry:
    seq: int
    ts: datetime
    kind: str
    strategy: str | None
    payload: dict[str, Any]


@dataclass(slots=True, frozen=True)
class StrategyConfiguration:
    """A ``strategy_configurations`` row. ``zerodha_trading_enabled`` picks live vs paper."""

    id: str
    strategy_type: str
    instruments: list[Any]
    parameters: dict[str, Any]
    is_active: bool
    zerodha_trading_enabled: bool
    use_composition: bool
    created_at: datetime
    updated_at: datetime
