"""Endpoints beyond app.py's: seed 002's ``POST /integrated/trading/start``,
``POST /integrated/trading/exit-position`` and ``GET /spot/statistics``; ours
``POST /api/strategies/reload``, ``GET /api/risk``, ``GET /api/config``, ``GET /api/pnl``.

Actions live in live/service_actions.py (validated first, applied under the kernel's lock,
checkpointed); reads take the lock for a consistent book. Refusals are ``{"detail": ...}``
with a 4xx status; an invalid strategy file also lists its problems by JSON path.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse

from optrunner.api.models import Problem, ReasonBody
from optrunner.api.models_trading import (
    AccountRiskOut,
    ConfigOut,
    ExitAnswer,
    ExitPositionBody,
    InvalidConfig,
    PnLAnswer,
    ReloadAnswer,
    RiskOut,
    SpotStatistics,
    StartAnswer,
    StartBody,
    StartStrategy,
    StrategyLimitsOut,
    SwitchChangeOut,
    ws_schemas,
)
from optrunner.api.views import UnknownSymbol, bars, performance
from optrunner.live.service import TradingService
from optrunner.live.service_actions import (
    Refused,
    StartItem,
    exit_position,
    reload_strategies,
    start_trading,
)

SECRET_KEY = re.compile(r"secret|token|password|passwd|api_?key|access_?key|private|credential|webhook|auth", re.I)
REDACTED = "***"
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}}


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


def redact(value: Any) -> Any:
    """``value`` with every field whose name looks secret replaced by ``***`` and the password
    of any URL (``postgresql://user:pw@host``) too, recursively."""
    if isinstance(value, dict):
        return {k: (REDACTED if SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v))
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and "@" in value:
        return _URL_PASSWORD.sub(rf"\1{REDACTED}@", value)
    return value


def _refused(exc: Refused) -> HTTPException | JSONResponse:
    if exc.issues:
        problems = [{"path": p, "message": m} for p, m in exc.issues]
        return JSONResponse({"detail": exc.message, "problems": problems}, status_code=exc.status)
    return HTTPException(exc.status, exc.message)


def spot_statistics(s: TradingService, symbol: str | None = None) -> SpotStatistics:
    """Spot and the hourly bar status, from the same bars as ``GET /api/bars`` (minutes
    before the session time only: no look-ahead in a replay)."""
    b = bars(s, "1h", symbol)
    with s.lock:
        snap = s.kernel.latest.get(b.symbol) if b.symbol else None
        spot, spot_ts = (snap.spot, snap.ts) if snap is not None else (None, None)
    closed = [x for x in b.bars if x.closed]
    building = [x for x in b.bars if not x.closed]
    return SpotStatistics(symbol=b.symbol, spot=spot, spot_ts=spot_ts, session_time=b.session_time,
                          timeframe=b.timeframe, current_bar=building[-1] if building else None,
                          last_closed_bar=closed[-1] if closed else None, bars_closed_today=len(closed),
                          bars_today=b.bars)  # fmt: skip


def risk(s: TradingService) -> RiskOut:
    with s.lock:
        k = s.kernel
        switch = k.risk.kill_switch
        acc = k.risk.account
        st = acc.status()
        level = st.max_loss_level
        used = min(1.0, st.day_pnl / level) if level < 0 and st.day_pnl < 0 else 0.0
        account = AccountRiskOut(day=None if st.day is None else st.day.isoformat(), day_pnl=st.day_pnl,
                                 best_day_pnl=st.best_day_pnl, max_loss_level=level, used_fraction=used,
                                 locked_for_day=st.locked_for_day, loss_streak=st.loss_streak,
                                 cooldown_until=None if st.cooldown_until is None else st.cooldown_until.isoformat(),
                                 warning=st.warning, blocks_entries=acc.blocks_entries())  # fmt: skip
        history = [SwitchChangeOut(ts=c.ts, old=str(c.old), new=str(c.new), source=c.source, reason=c.reason)
                   for c in switch.history]  # fmt: skip
        limits = []
        for name in k.runner.strategies():
            lim = k.risk.limits.get(name)
            mine = k.portfolio.positions(name)
            net = k.portfolio.summary(name).net if name in set(k.portfolio.strategies()) else 0.0
            limits.append(StrategyLimitsOut(
                strategy=name, max_concurrent_legs=getattr(lim, "max_concurrent_legs", 2), open_legs=len(mine),
                max_position_size=getattr(lim, "max_position_size", None),
                max_daily_loss=getattr(lim, "max_daily_loss", None), max_total_loss=getattr(lim, "max_total_loss", None),
                net_pnl=net))  # fmt: skip
        return RiskOut(state=switch.state.value, reason=switch.reason, allows_entries=switch.allows_entries,
                       history=history, account=account, settings=k.risk.settings.model_dump(mode="json"),
                       strategies=limits)  # fmt: skip


def effective_config(s: TradingService) -> ConfigOut:
    with s.lock:
        k = s.kernel
        strategies = {n: redact(c.model_dump(mode="json")) if hasattr(c, "model_dump") else {}
                      for n, c in k.runner.configs().items()}  # fmt: skip
        return ConfigOut(mode=s.mode, broker=s.broker_name, capital=k.portfolio.capital, strategy_source=s.strategy_source,
                         config_dir=None if s.config_dir is None else str(s.config_dir), symbols=list(s.symbols),
                         risk=redact(k.risk.settings.model_dump(mode="json")), strategies=strategies)  # fmt: skip


def document_websocket(app: FastAPI) -> None:
    """Add the WebSocket's message models to the OpenAPI components (``WsFrame``, a JSON
    array of ``WsMessage``; ``TickData``, ``BarData``, ``PnLData``): /docs and generated
    clients see their shapes."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = plain()
            spec.setdefault("components", {}).setdefault("schemas", {}).update(
                {k: v for k, v in ws_schemas().items() if k not in spec["components"]["schemas"]})
        return app.openapi_schema or plain()

    app.openapi = openapi  # type: ignore[method-assign]


def router(service: TradingService, auth: Any) -> APIRouter:
    r = APIRouter(dependencies=[auth], responses=_ERRORS)

    @r.post("/integrated/trading/start", response_model=StartAnswer, tags=["trading"],
            responses={422: {"model": InvalidConfig}})  # fmt: skip
    def trading_start(body: StartBody | None = None) -> Any:
        """Start or resume trading (seed 002): kill switch ACTIVE; each listed strategy enabled
        (resumed when halted) or disabled (halted); the seed's fields (``signal_types``,
        ``quantity`` in units, ``stop_loss_type``) reconfigure a weekly_zones strategy in
        place. LIVE is refused (409) on a paper service."""
        body = body or StartBody()
        items = None
        if body.strategies is not None:
            items = [StartItem(name=x) if isinstance(x, str) else
                     StartItem(name=x.name, enabled=x.enabled, overrides=x.overrides())
                     for x in body.strategies]  # fmt: skip
        try:
            return start_trading(service, body.mode, items, body.reason or "trading started from the API")
        except Refused as exc:
            out = _refused(exc)
            if isinstance(out, HTTPException):
                raise out from None
            return out

    @r.post("/integrated/trading/exit-position", response_model=ExitAnswer, tags=["trading"])
    def trading_exit_position(body: ExitPositionBody) -> ExitAnswer:
        """Close one strategy's, one trade's or one leg's positions at market (the flatten
        orders: shorts before longs, guarded against double closes); the strategy keeps running."""
        try:
            out = exit_position(service, signal_id=body.signal_id, strategy=body.strategy,
                                position=body.position_id, reason=body.reason or "manual exit from the API")  # fmt: skip
        except Refused as exc:
            raise HTTPException(exc.status, exc.message) from None
        return ExitAnswer(**out)

    @r.get("/spot/statistics", response_model=SpotStatistics, tags=["market"])
    def spot_stats(symbol: Annotated[str | None, Query(max_length=20)] = None) -> SpotStatistics:
        """Spot and hourly bar status (seed 002): the building bar, the last closed one, bars closed today."""
        try:
            return spot_statistics(service, symbol)
        except UnknownSymbol:
            raise HTTPException(404, "no index bars of that symbol on the session day") from None

    @r.post("/api/strategies/reload", response_model=ReloadAnswer, tags=["strategies"],
            responses={422: {"model": InvalidConfig}})  # fmt: skip
    def strategies_reload(body: ReasonBody | None = None) -> Any:
        """Hot reload of --config-dir (or the strategy_configurations rows): all valid and
        buildable or nothing changes (422 with each problem's JSON path); new strategies added,
        changed ones replaced keeping their positions and state, removed ones holding positions
        drained (exits only) or kept running per --on-change, and unregistered once flat."""
        try:
            return reload_strategies(service, body.reason if body and body.reason else "reloaded from the API")
        except Refused as exc:
            out = _refused(exc)
            if isinstance(out, HTTPException):
                raise out from None
            return out

    @r.get("/api/risk", response_model=RiskOut, tags=["health"])
    async def api_risk() -> RiskOut:
        """Kill switch state and its history (source, reason, time), account limits and usage,
        each strategy's limits."""
        return await service.read(lambda: risk(service))

    @r.get("/api/config", response_model=ConfigOut, tags=["health"])
    async def api_config() -> ConfigOut:
        """The effective configuration: account risk settings and every strategy's validated
        config, secrets (tokens, passwords, webhook URLs) replaced by ``***``."""
        return await service.read(lambda: effective_config(service))

    @r.get("/api/pnl", response_model=PnLAnswer, tags=["trading"])
    async def api_pnl() -> PnLAnswer:
        """P&L of the account and of each strategy (realised, MTM, charges, net)."""
        p = await service.read(lambda: performance(service))
        return PnLAnswer(account=p.account, strategies=p.strategies)

    return r


__all__ = ["StartStrategy", "redact", "router"]
