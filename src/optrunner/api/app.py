"""The FastAPI app in front of a :class:`TradingService`: REST, ``/ws`` and ``/metrics``.

Paths are the seeds' (users' scripts call them): seed 001's ``/api/health``,
``/api/trading/disable|enable``; seed 002's ``/integrated/trading/status|positions|stop``
and ``/performance/stats``; plus ours under ``/api/``. Every endpoint but ``/api/health``
and ``/metrics`` needs ``Authorization: Bearer <token>`` (auth.py). Errors are always
``{"detail": "..."}`` with a 4xx status: a request can be wrong, the server must not crash
on it, and no answer repeats what the client sent (it could hold a secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from optrunner.alerts.router import AlertRouter
from optrunner.api import dashboard, postbacks, views, views_trading
from optrunner.api.alerting import alert_watch
from optrunner.api.auth import bearer, token_matches
from optrunner.api.hub import Hub
from optrunner.api.metrics import ServiceMetrics
from optrunner.api.models import (
    AlertOut,
    FillOut,
    Health,
    KillSwitchAnswer,
    OrderOut,
    PerformanceStats,
    Positions,
    Problem,
    ReasonBody,
    StopAnswer,
    StrategyAnswer,
    StrategyOut,
    TradingStatus,
)
from optrunner.core.types import OrderState
from optrunner.live.service import NotStarted, TradingService, UnknownStrategy
from optrunner.risk.kill_switch import TradingState

log = logging.getLogger(__name__)
AUTH_FAILED = "missing or wrong bearer token: send the header 'Authorization: Bearer <token>'"
WS_AUTH_TIMEOUT = 5.0  # seconds a WebSocket client has to send its token as the first message
Limit = Annotated[int, Query(ge=1, le=10_000, description="At most this many, the newest")]
_ERRORS = {code: {"model": Problem} for code in (400, 401, 404, 409, 422)}  # 400: a body that is not JSON


def create_app(service: TradingService, token: str, *, start_service: bool = True,
               positions_every: float = 1.0, alerts: AlertRouter | None = None) -> FastAPI:  # fmt: skip
    """The app for ``service``; with ``start_service`` the replay starts with the app and
    stops (journal flushed, store closed) when the app shuts down. ``alerts``: the channels
    (none by default: the rules still run and their alerts reach the WebSocket)."""
    metrics = ServiceMetrics(service)
    watch = alert_watch(service, metrics, alerts)
    hub = Hub(service, metrics, positions_every=positions_every, watch=watch)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.start()
        if start_service:
            service.start()
        try:
            yield
        finally:
            await hub.stop()
            if start_service:
                service.stop()
            watch.router.close(timeout=1.0)  # a hung channel never delays the exit by more

    app = FastAPI(title="optrunner", summary="Operate a paper (later live) trading session",
                  lifespan=lifespan, responses=_ERRORS)  # fmt: skip
    app.state.service, app.state.metrics, app.state.hub = service, metrics, hub
    app.state.alerts = watch

    scheme = HTTPBearer(auto_error=False, description="The API token (docs/service.md, Auth)")

    async def authorized(credentials: HTTPAuthorizationCredentials | None = Security(scheme)) -> None:  # noqa: B008
        if credentials is None or not token_matches(token, credentials.credentials):
            raise HTTPException(401, AUTH_FAILED, headers={"WWW-Authenticate": "Bearer"})

    Auth = Depends(authorized)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {where}"}, status_code=422)  # no input echoed

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    # --- seed 001 --------------------------------------------------------------------------------

    @app.get("/api/health", response_model=Health, tags=["health"])
    async def api_health() -> Health:
        """Feed (replay) alive, store reachable, broker, kill switch, last tick age. No token."""
        return await service.read(lambda: views.health(service))

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def prometheus() -> Response:
        hub.pump()  # counters include everything the kernel did until now
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def _switch(state: TradingState, body: ReasonBody | None, default: str) -> KillSwitchAnswer:
        reason = (body.reason if body and body.reason else default)
        before, changed = service.set_trading(state, reason)
        switch = service.kernel.risk.kill_switch
        return KillSwitchAnswer(state=switch.state.value, previous=before.value, changed=changed,
                                source="api", reason=reason)  # fmt: skip

    @app.post("/api/trading/disable", response_model=KillSwitchAnswer, dependencies=[Auth], tags=["trading"])
    def trading_disable(body: ReasonBody | None = None) -> KillSwitchAnswer:
        """Kill switch to REDUCING: no new entries or adjustments; exits still run."""
        return _switch(TradingState.REDUCING, body, "trading disabled from the API")

    @app.post("/api/trading/enable", response_model=KillSwitchAnswer, dependencies=[Auth], tags=["trading"])
    def trading_enable(body: ReasonBody | None = None) -> KillSwitchAnswer:
        """Kill switch back to ACTIVE."""
        return _switch(TradingState.ACTIVE, body, "trading enabled from the API")

    # --- seed 002 --------------------------------------------------------------------------------

    @app.get("/integrated/trading/status", response_model=TradingStatus, dependencies=[Auth], tags=["trading"])
    async def trading_status() -> TradingStatus:
        return await service.read(lambda: views.status(service))

    @app.get("/integrated/trading/positions", response_model=Positions, dependencies=[Auth], tags=["trading"])
    async def trading_positions() -> Positions:
        return await service.read(lambda: views.positions_out(service))

    @app.post("/integrated/trading/stop", response_model=StopAnswer, dependencies=[Auth], tags=["trading"])
    def trading_stop(body: ReasonBody | None = None) -> StopAnswer:
        """Emergency stop: kill switch HALTED (no strategy order goes out), working orders
        cancelled, every position flattened at market — short main legs before long hedges."""
        reason = body.reason if body and body.reason else "emergency stop from the API"
        r = service.emergency_stop(reason)
        if r["open_positions"] == 0:
            message = "flat"
        elif r["session_open"]:
            message = f"{r['open_positions']} leg(s) still open: flatten orders working"
        else:
            message = f"{r['open_positions']} leg(s) still open: the session is closed, they flatten at the next open"
        return StopAnswer(state=TradingState.HALTED.value, previous=r["previous"].value,
                          flatten_orders=r["flatten_orders"], cancelled=r["cancelled"],
                          open_positions=r["open_positions"], session_open=r["session_open"], message=message)  # fmt: skip

    @app.get("/performance/stats", response_model=PerformanceStats, dependencies=[Auth], tags=["trading"])
    async def performance_stats() -> PerformanceStats:
        return await service.read(lambda: views.performance(service))

    # --- ours -------------------------------------------------------------------------------------

    @app.get("/api/strategies", response_model=list[StrategyOut], dependencies=[Auth], tags=["strategies"])
    async def list_strategies() -> list[StrategyOut]:
        return await service.read(lambda: views.strategies(service))

    def _unknown(name: str) -> HTTPException:
        return HTTPException(404, f"no strategy named {name!r}; GET /api/strategies lists them")

    @app.post("/api/strategies/{name}/disable", response_model=StrategyAnswer, dependencies=[Auth], tags=["strategies"])
    def disable_strategy(name: str, body: ReasonBody | None = None) -> StrategyAnswer:
        """Halt one strategy: entries blocked, its positions flattened by the halt policy."""
        try:
            changed = service.disable_strategy(name, body.reason if body and body.reason else "disabled from the API")
        except UnknownStrategy:
            raise _unknown(name) from None
        except NotStarted as exc:
            raise HTTPException(409, str(exc)) from None
        return StrategyAnswer(name=name, halted=True, changed=changed)

    @app.post("/api/strategies/{name}/enable", response_model=StrategyAnswer, dependencies=[Auth], tags=["strategies"])
    def enable_strategy(name: str) -> StrategyAnswer:
        """Resume a halted strategy."""
        try:
            changed = service.enable_strategy(name)
        except UnknownStrategy:
            raise _unknown(name) from None
        except NotStarted as exc:
            raise HTTPException(409, str(exc)) from None
        return StrategyAnswer(name=name, halted=False, changed=changed)

    @app.get("/api/orders", response_model=list[OrderOut], dependencies=[Auth], tags=["orders"])
    async def list_orders(strategy: str | None = None, state: OrderState | None = None, working: bool = False,
                          limit: Limit = 500) -> list[OrderOut]:  # fmt: skip
        return await service.read(lambda: views.orders_out(service, working=working, strategy=strategy, state=state,
                                                           limit=limit))  # fmt: skip

    @app.get("/api/fills", response_model=list[FillOut], dependencies=[Auth], tags=["orders"])
    async def list_fills(strategy: str | None = None, limit: Limit = 500) -> list[FillOut]:
        return await service.read(lambda: views.fills_out(service, strategy=strategy, limit=limit))

    @app.get("/api/alerts", response_model=list[AlertOut], dependencies=[Auth], tags=["health"])
    async def list_alerts(limit: Limit = 200) -> list[AlertOut]:
        return await service.read(lambda: views.alerts_out(service, limit=limit))

    app.include_router(dashboard.router(service, Auth))  # the dashboard at / and its bars
    app.include_router(views_trading.router(service, Auth))  # start, exit-position, spot, reload, risk, config
    app.include_router(postbacks.router(service, postbacks.kite_api_secret))  # Kite's order updates, by checksum
    views_trading.document_websocket(app)
    app.mount("/static", dashboard.static_files(), name="static")

    # --- WebSocket ---------------------------------------------------------------------------------

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        """Token as ``?token=``, an Authorization header, or the first message
        (``{"token": "..."}``); then a snapshot — or, with ``?since=<seq>&epoch=<epoch>``,
        the event messages after ``seq`` — and a frame (a JSON array of messages) per 100 ms
        round (hub.py)."""
        await websocket.accept()
        given = websocket.query_params.get("token") or bearer(websocket.headers.get("authorization"))
        if not given:
            try:
                first = await asyncio.wait_for(websocket.receive_json(), WS_AUTH_TIMEOUT)
                given = first.get("token") if isinstance(first, dict) else None
            except Exception:
                given = None
        if not token_matches(token, given):
            await websocket.close(code=1008, reason="missing or wrong token")
            return
        since = websocket.query_params.get("since", "")
        await hub.serve(websocket, since=int(since) if since.isdigit() and len(since) < 19 else None,
                        epoch=websocket.query_params.get("epoch"))  # fmt: skip

    return app
