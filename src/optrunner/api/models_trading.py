"""Typed requests and answers of the endpoints in views_trading.py (seed 002's start,
exit-position and spot statistics; strategy reload, risk, effective config, P&L) and the
WebSocket's messages (hub.py), so ``/docs`` shows every shape a script relies on."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, RootModel, StringConstraints, model_validator

from optrunner.api.models import BarOut, Model, PnLOut

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Signal = Annotated[str, StringConstraints(pattern=r"^[Ss][1-8]$")]


class StartStrategy(Model):
    """One entry of seed 002's ``strategies``: its fields set a weekly_zones (S1-S8) strategy;
    ``name`` picks which (optional when one weekly_zones strategy is loaded)."""

    name: Name | None = Field(None, description="A loaded strategy (GET /api/strategies)")
    signal_types: list[Signal] | None = Field(None, min_length=1, max_length=8, description="S1..S8 that may trade")
    quantity: int | None = Field(None, gt=0, le=1_000_000, description="Units sold per signal (750 = 10 lots of 75)")
    stop_loss_type: Literal["strike", "lock", "trailing"] | None = None
    enabled: bool = Field(True, description="false: halt it (the halt path); true: resume it when halted")

    def overrides(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.signal_types is not None:
            out["signal_types"] = [s.upper() for s in self.signal_types]
        if self.quantity is not None:
            out["quantity"] = self.quantity
        if self.stop_loss_type is not None:
            out["stop_loss_type"] = self.stop_loss_type
        return out


class StartBody(Model):
    """Seed 002's start payload; every field optional (the seed's daily routine posts none)."""

    mode: Literal["PAPER", "LIVE"] = "PAPER"
    strategies: list[StartStrategy | Name] | None = Field(
        None, max_length=500, description="Strategy names or seed objects; strategies not listed are left as they are"
    )
    reason: str = Field("", max_length=500)


class StartedStrategy(Model):
    name: str
    enabled: bool
    changed: bool = Field(description="Its halted state changed")
    reconfigured: bool = Field(description="The seed's fields were applied (a hot replace, positions kept)")


class StartAnswer(Model):
    mode: str
    state: str = Field(description="The kill switch after the start: ACTIVE")
    previous: str
    changed: bool
    strategies: list[StartedStrategy]


class ExitPositionBody(Model):
    """Exactly one of ``signal_id`` (seed 002: a strategy name, a position id,
    ``<strategy>:<trade id>`` or ``S1_YYYYMMDD_HHMMSS``), ``strategy`` or ``position_id``."""

    signal_id: Name | None = None
    strategy: Name | None = None
    position_id: Name | None = Field(None, description="<strategy>/<contract> as GET /integrated/trading/positions gives")
    reason: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _one(self) -> ExitPositionBody:
        given = [f for f in ("signal_id", "strategy", "position_id") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of signal_id, strategy, position_id")
        return self


class ExitAnswer(Model):
    strategy: str
    positions: list[str] = Field(description="Position ids asked to close")
    orders: list[str] = Field(description="Client ids of the exit orders sent")
    open_positions: list[str] = Field(description="Of those, still open when the answer was made")
    session_open: bool = Field(description="False after the close: no order can go out until the next session")


class SpotStatistics(Model):
    """Seed 002's hourly bar status (the signals act on closed hourly bars)."""

    symbol: str
    spot: float | None = Field(description="The index's last price the kernel saw")
    spot_ts: datetime | None
    session_time: datetime | None
    timeframe: str
    current_bar: BarOut | None = Field(description="The bar still building (OHLC so far)")
    last_closed_bar: BarOut | None
    bars_closed_today: int
    bars_today: list[BarOut]


class ConfigProblem(Model):
    path: str = Field(description="<file>: <JSON path>")
    message: str


class ReloadAnswer(Model):
    added: list[str]
    replaced: list[str] = Field(description="Changed files: new build, same positions and state")
    removed: list[str] = Field(description="Files (rows) gone: unregistered once flat, drained or kept until then")
    unregistered: list[str] = Field(description="Removed and flat: no longer listed")
    waiting: list[str] = Field(description="Removed (or changed beyond what a new build can carry) while holding "
                                           "positions: drained (exits only) or kept running, per on_change, until flat")
    on_change: str = Field(description="drain | keep (serve --on-change)")
    unchanged: list[str]


class InvalidConfig(Model):
    """A 422: an invalid request, or strategy files / a resulting config with ``problems``."""

    detail: str
    problems: list[ConfigProblem] = Field(default_factory=list, description="Each problem at its JSON path")


class SwitchChangeOut(Model):
    ts: datetime | None
    old: str
    new: str
    source: str
    reason: str


class AccountRiskOut(Model):
    day: str | None
    day_pnl: float
    best_day_pnl: float
    max_loss_level: float = Field(description="Day P&L at which the account halts (negative, trails up)")
    used_fraction: float = Field(description="Day loss as a fraction of the max loss (0 when in profit)")
    locked_for_day: bool
    loss_streak: int
    cooldown_until: str | None
    warning: bool
    blocks_entries: str | None


class StrategyLimitsOut(Model):
    strategy: str
    max_concurrent_legs: int
    open_legs: int
    max_position_size: float | None
    max_daily_loss: float | None
    max_total_loss: float | None
    net_pnl: float


class RiskOut(Model):
    state: str
    reason: str
    allows_entries: bool
    history: list[SwitchChangeOut]
    account: AccountRiskOut
    settings: dict[str, Any] = Field(description="The account's risk settings")
    strategies: list[StrategyLimitsOut]


class ConfigOut(Model):
    mode: str
    broker: str
    capital: float
    strategy_source: str = Field(description="files (--config-dir) or store (strategy_configurations rows)")
    config_dir: str | None
    symbols: list[str]
    risk: dict[str, Any]
    strategies: dict[str, dict[str, Any]] = Field(description="Each strategy's validated config, secrets redacted")


class PnLAnswer(Model):
    account: PnLOut
    strategies: list[PnLOut]


# --- WebSocket messages -------------------------------------------------------------------------


class TickData(Model):
    symbol: str
    spot: float
    ts: datetime


class BarData(BarOut):
    symbol: str
    timeframe: str


class PnLData(Model):
    account: PnLOut
    strategies: list[PnLOut]
    day_pnl: float
    equity: float
    drawdown: float


class WsMessage(Model):
    """Every message on ``/ws``: ``seq`` grows by one per message (replayable with ``?since=``;
    superseded periodic messages are dropped, so a client may see gaps)."""

    seq: int
    type: Literal["snapshot", "order", "fill", "alert", "kill_switch", "positions", "tick", "bar", "pnl"]
    ts: datetime
    data: dict[str, Any]


class WsFrame(RootModel[list[WsMessage]]):
    """One WebSocket frame: the messages of one 100 ms round in ``seq`` order, never empty
    (the snapshot comes alone in the first frame)."""


WS_DATA: dict[str, type[Model]] = {"tick": TickData, "bar": BarData, "pnl": PnLData}  # the rest: see docs/service.md


def ws_schemas() -> dict[str, Any]:
    """JSON schemas of the WebSocket's message envelope and typed payloads, for the OpenAPI
    document's components (a WebSocket has no operation there)."""
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema([(m, "serialization") for m in (WsFrame, WsMessage, TickData, BarData, PnLData)],
                                ref_template="#/components/schemas/{model}")  # fmt: skip
    return top.get("$defs", {})
