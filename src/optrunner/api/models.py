"""Typed answers (and the few request bodies) of the service's REST API.

Every endpoint answers one of these, so ``/docs`` documents the exact shapes users'
scripts can rely on. Money is in rupees, quantities in units (lots x lot size), times
ISO 8601 with their offset (UTC as stored).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(Model):
    """Every error answer: one message saying what is wrong and what to do."""

    detail: str


class ReasonBody(Model):
    reason: str = Field("", max_length=500, description="Why (kept with the kill switch's history).")


class FeedHealth(Model):
    state: str = Field(description="starting | replaying | finished | stopped | failed")
    alive: bool
    inputs: int
    last_input: datetime | None = Field(description="Session time of the last market input")
    last_tick_age_seconds: float | None = Field(description="Wall seconds since it was processed")
    error: str | None = None


class Health(Model):
    status: str = Field(description="ok | degraded")
    mode: str
    feed: FeedHealth
    store_ok: bool
    store_error: str | None = None
    broker: str
    broker_ok: bool
    kill_switch: str
    kill_switch_reason: str


class KillSwitchAnswer(Model):
    state: str
    previous: str
    changed: bool
    source: str
    reason: str


class PositionOut(Model):
    position_id: str = Field(description="<strategy>/<contract>: what POST /integrated/trading/exit-position takes")
    strategy: str
    contract: str
    underlying: str
    expiry: str
    strike: float
    right: str
    quantity: int
    avg_price: float
    mark_price: float | None
    unrealized: float
    realized: float
    charges: float
    delta: float | None = Field(description="per unit, from the last chain row the leg was marked with (None: never had greeks)")
    gamma: float | None = Field(description="per unit, per index point²")
    vega: float | None = Field(description="per unit, per vol point")
    theta: float | None = Field(description="per unit, per calendar day")


class Positions(Model):
    positions: list[PositionOut]
    open_legs: int
    unrealized: float
    realized: float
    charges: float
    net: float
    delta: float = Field(0.0, description="account greeks: sum of quantity x per-unit greek over open legs")
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    greeks_missing: int = Field(0, description="open legs left out of the sums: never marked with greeks")


class TradingStatus(Model):
    mode: str
    broker: str
    running: bool
    feed_state: str
    trading_state: str
    trading_reason: str
    session_day: str | None
    session_time: datetime | None
    session_open: bool
    inputs: int
    strategies: list[str]
    halted: dict[str, str]
    orders: int
    working_orders: int
    open_legs: int
    net_pnl: float


class StopAnswer(Model):
    state: str
    previous: str
    flatten_orders: list[str] = Field(description="Client ids of the orders the stop sent")
    cancelled: list[str] = Field(description="Working orders it cancelled")
    open_positions: int = Field(description="Legs still open when the answer was made")
    session_open: bool = Field(description="False after the close: the flatten waits for the next session")
    message: str


class PnLOut(Model):
    strategy: str | None
    realized: float
    unrealized: float
    charges: float
    net: float
    open_legs: int
    premium_collected: float


class PerformanceStats(Model):
    capital: float
    equity: float
    day_pnl: float
    drawdown: float
    drawdown_pct: float
    account: PnLOut
    strategies: list[PnLOut]
    orders: int
    fills: int
    rejected: int


class StrategyOut(Model):
    name: str
    kind: str
    halted: bool
    halt_reason: str
    open_legs: int
    net_pnl: float


class StrategyAnswer(Model):
    name: str
    halted: bool
    changed: bool


class OrderOut(Model):
    client_id: str
    strategy: str
    tag: str
    contract: str
    side: str
    quantity: int
    order_type: str
    limit_price: float | None
    state: str
    filled_qty: int
    avg_price: float
    parent_id: str | None
    leg: str
    reason: str
    created_ts: datetime | None
    updated_ts: datetime | None


class FillOut(Model):
    fill_id: str
    client_id: str
    strategy: str
    tag: str
    contract: str
    side: str
    quantity: int
    price: float
    charges: float
    ts: datetime
    is_settlement: bool


class AlertOut(Model):
    ts: datetime
    level: str
    source: str
    message: str


class BarOut(Model):
    ts: datetime = Field(description="Bar start (session-aligned: 09:15, 10:15, ...)")
    end: datetime = Field(description="Nominal end, capped at the 15:30 close")
    open: float
    high: float
    low: float
    close: float
    closed: bool = Field(description="False for the bar still being built (session time before its end)")


class Bars(Model):
    symbol: str = Field(description="The index; empty before the session's first input")
    timeframe: str
    session_time: datetime | None = Field(description="Bars hold the index minutes before this time only")
    bars: list[BarOut]
