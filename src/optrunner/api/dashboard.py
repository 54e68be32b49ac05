"""The dashboard: ``GET /`` (one HTML page, static/index.html) with its assets under
``/static`` (plain JS and CSS, plus lightweight-charts' built file with its licence in
static/vendor/: no CDN, no build step, works offline), and the spot bars its chart draws,
``GET /api/bars``. The page itself holds no data and needs no token; every call it makes
does (docs/service.md, Dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from optrunner.api.models import Bars
from optrunner.api.views import UnknownSymbol, bars
from optrunner.live.service import TradingService

STATIC = Path(__file__).resolve().parent / "static"
Timeframe = Annotated[str, Query(max_length=4, description="5m, 15m, 1h, 4h or 1d (session-aligned from 09:15)")]


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def router(service: TradingService, auth: Any) -> APIRouter:
    """``GET /`` (the page, no token: it asks for one) and ``GET /api/bars`` (token)."""
    r = APIRouter()

    @r.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @r.get("/api/bars", response_model=Bars, dependencies=[auth], tags=["market"])
    def api_bars(timeframe: Timeframe = "1h", symbol: Annotated[str | None, Query(max_length=20)] = None) -> Bars:
        """The index's session-aligned bars of the day up to the session time (the chart's data)."""
        try:
            return bars(service, timeframe, symbol)
        except UnknownSymbol:
            raise HTTPException(404, "no index bars of that symbol on the session day") from None
        except ValueError:
            raise HTTPException(422, "invalid request: query.timeframe: use 5m, 15m, 1h, 4h or 1d") from None

    return r
