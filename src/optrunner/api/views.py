"""The service's state as API answers: each function reads the kernel under its lock and
returns a typed model (models.py), so REST, the WebSocket and tests see the same shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import text

from optrunner.api.models import (
    AlertOut,
    BarOut,
    Bars,
    FeedHealth,
    FillOut,
    Health,
    OrderOut,
    PerformanceStats,
    PnLOut,
    PositionOut,
    Positions,
    StrategyOut,
    TradingStatus,
)
from optrunner.core.types import OrderState
from optrunner.data.bars import parse_timeframe, resample
from optrunner.data.schema import ts_ns
from optrunner.live.service import TradingService


def _pnl(summary: Any) -> PnLOut:
    return PnLOut(strategy=summary.strategy, realized=summary.realized, unrealized=summary.unrealized,
                  charges=summary.charges, net=summary.net, open_legs=summary.open_legs,
                  premium_collected=summary.premium_collected)  # fmt: skip


def _strategy_pnl(pf: Any, name: str) -> PnLOut:
    """A strategy's P&L; zeros before its first fill (the book knows only strategies that traded)."""
    if name in set(pf.strategies()):
        return _pnl(pf.summary(name))
    return PnLOut(strategy=name, realized=0.0, unrealized=0.0, charges=0.0, net=0.0, open_legs=0, premium_collected=0.0)


def _session_time(s: TradingService) -> Any:
    node = s.node
    if node.inputs == 0 and node.resume_after is None:
        return None
    return s.kernel.clock.now()


def health(s: TradingService) -> Health:
    store_ok, store_error = True, None
    with s.lock:
        try:
            if s.closed:
                raise RuntimeError("the store is closed")
            with s.node.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # health reports, it never raises
            store_ok, store_error = False, type(exc).__name__
        switch = s.kernel.risk.kill_switch
        broker_ok = s.kernel.broker is not None and getattr(s.kernel.broker, "session_ok", True)
        age = s.last_tick_age()
        feed = FeedHealth(state=s.state, alive=s.alive, inputs=s.node.inputs, last_input=_session_time(s),
                          last_tick_age_seconds=None if age is None else round(age, 3), error=s.error)  # fmt: skip
        ok = store_ok and broker_ok and s.state not in ("failed",)
        return Health(status="ok" if ok else "degraded", mode=s.mode, feed=feed, store_ok=store_ok,
                      store_error=store_error, broker=s.broker_name, broker_ok=broker_ok,
                      kill_switch=switch.state.value, kill_switch_reason=switch.reason)  # fmt: skip


def positions_out(s: TradingService) -> Positions:
    with s.lock:
        pf = s.kernel.portfolio
        out = [
            PositionOut(position_id=f"{p.strategy}/{p.contract.id}", strategy=p.strategy, contract=p.contract.id,
                        underlying=p.contract.underlying,
                        expiry=p.contract.expiry.isoformat(), strike=p.contract.strike, right=p.contract.right.value,
                        quantity=p.quantity, avg_price=p.avg_price, mark_price=p.mark_price, unrealized=p.unrealized,
                        realized=p.realized, charges=p.charges_paid, delta=p.delta, gamma=p.gamma, vega=p.vega,
                        theta=p.theta)
            for p in pf.positions()
        ]
        total = pf.summary()
        return Positions(positions=out, open_legs=len(out), unrealized=total.unrealized, realized=total.realized,
                         charges=total.charges, net=total.net, delta=total.delta, gamma=total.gamma,
                         vega=total.vega, theta=total.theta, greeks_missing=total.greeks_missing)  # fmt: skip


def status(s: TradingService) -> TradingStatus:
    with s.lock:
        k = s.kernel
        switch = k.risk.kill_switch
        runner = k.runner.get_status()
        halted = k.runner.halt_reasons()
        halted.update({n: r for n, r in k.om.halted().items() if n not in halted})
        orders = k.om.orders()
        return TradingStatus(
            mode=s.mode, broker=s.broker_name, running=s.alive, feed_state=s.state,
            trading_state=switch.state.value, trading_reason=switch.reason,
            session_day=None if s.node.day is None else s.node.day.isoformat(), session_time=_session_time(s),
            session_open=k.session_open, inputs=s.node.inputs, strategies=runner["strategy_names"], halted=halted,
            orders=len(orders), working_orders=sum(1 for o in orders if not o.state.is_terminal),
            open_legs=len(k.portfolio.positions()), net_pnl=k.portfolio.summary().net,
        )  # fmt: skip


def strategies(s: TradingService) -> list[StrategyOut]:
    with s.lock:
        k = s.kernel
        out = []
        halted = k.runner.halt_reasons()
        for name, config in k.runner.configs().items():
            summary = _strategy_pnl(k.portfolio, name)
            out.append(StrategyOut(name=name, kind=str(getattr(config, "strategy", "") or ""), halted=name in halted,
                                   halt_reason=halted.get(name, ""), open_legs=summary.open_legs,
                                   net_pnl=summary.net))  # fmt: skip
        return out


def orders_out(s: TradingService, *, working: bool = False, strategy: str | None = None,
               state: OrderState | None = None, limit: int = 500) -> list[OrderOut]:  # fmt: skip
    with s.lock:
        orders = s.kernel.om.open_orders(strategy) if working else s.kernel.om.orders(strategy)
        picked = [o for o in orders if state is None or o.state is state][-limit:]
        return [
            OrderOut(client_id=o.client_id, strategy=o.strategy, tag=o.tag.value, contract=o.contract.id,
                     side=o.side.value, quantity=o.quantity, order_type=o.order_type.value,
                     limit_price=o.limit_price, state=o.state.value, filled_qty=o.filled_qty, avg_price=o.avg_price,
                     parent_id=o.parent_id, leg=o.leg, reason=o.reason, created_ts=o.created_ts,
                     updated_ts=o.updated_ts)
            for o in picked
        ]


def fills_out(s: TradingService, *, strategy: str | None = None, limit: int = 500) -> list[FillOut]:
    with s.lock:  # the store's reads flush its buffer: only with the kernel's lock held
        fills = s.node.store.load_fills(strategy)[-limit:]
    return [
        FillOut(fill_id=f.fill_id, client_id=f.client_id, strategy=f.strategy, tag=f.tag.value, contract=f.contract.id,
                side=f.side.value, quantity=f.quantity, price=f.price, charges=f.charges.total, ts=f.ts,
                is_settlement=f.is_settlement)
        for f in fills
    ]


def alerts_out(s: TradingService, *, limit: int = 200) -> list[AlertOut]:
    with s.lock:
        alerts = list(s.kernel.alerts[-limit:])
    return [AlertOut(ts=a.ts, level=a.level, source=a.source, message=a.message) for a in alerts]


def performance(s: TradingService) -> PerformanceStats:
    with s.lock:
        k = s.kernel
        pf = k.portfolio
        orders = k.om.orders()
        fills = sum(1 for o in orders if o.filled_qty > 0)
        return PerformanceStats(
            capital=pf.capital, equity=pf.equity, day_pnl=pf.day_pnl, drawdown=pf.drawdown,
            drawdown_pct=pf.drawdown_pct, account=_pnl(pf.summary()),
            strategies=[_strategy_pnl(pf, n) for n in sorted(set(pf.strategies()) | set(k.runner.strategies()))],
            orders=len(orders), fills=fills, rejected=sum(1 for o in orders if o.state is OrderState.REJECTED),
        )  # fmt: skip


class UnknownSymbol(LookupError):
    """Bars asked of an index with no bars on the session day."""


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def bars(s: TradingService, timeframe: str = "1h", symbol: str | None = None) -> Bars:
    """The index's bars of the session day up to the session time (the last one may be open),
    aggregated from minute bars: the replayed catalog's, or on a live feed (no catalog) those
    recorded from the spots of the inputs processed (live/spot_bars.py). None before the first
    input. Raises ValueError (timeframe) or UnknownSymbol."""
    kind, _ = parse_timeframe(timeframe)  # ValueError: not a timeframe
    if kind == "week":
        raise ValueError("weekly bars span more than the session day")
    with s.lock:
        node = s.node
        started = node.inputs > 0 or node.resume_after is not None
        now = s.kernel.clock.now() if started else None
        day = node.day
        recorded = s.spot_bars.copy()  # empty unless on a live feed
    catalog = s.catalog
    if now is None or day is None:
        return Bars(symbol="", timeframe=timeframe, session_time=now, bars=[])
    if catalog is not None:
        have = [x for x in catalog.symbols() if day in catalog.bar_dates(x)]
    else:
        have = recorded.symbols(day)
    if symbol is None:
        symbol = have[0] if have else ""
    elif symbol.upper() not in have:
        raise UnknownSymbol(symbol)
    symbol = symbol.upper()
    if not symbol:
        return Bars(symbol="", timeframe=timeframe, session_time=now, bars=[])
    now_ns = int(now.timestamp() * 1e9)
    if catalog is not None:  # a catalog minute starting at the session time is still to come
        minutes = catalog.bars(symbol, day, day)
        minutes = minutes.filter(pa.array(ts_ns(minutes["ts"]) < now_ns))
    else:
        minutes = recorded.table(symbol, now)
    table = resample(minutes, timeframe)
    start, end = ts_ns(table["ts"]), ts_ns(table["end"])
    cols: dict[str, Any] = {n: table[n].to_numpy() for n in ("open", "high", "low", "close")}
    out = [
        BarOut(ts=_utc(int(start[i])), end=_utc(int(end[i])), open=float(cols["open"][i]), high=float(cols["high"][i]),
               low=float(cols["low"][i]), close=float(cols["close"][i]), closed=bool(end[i] <= now_ns))
        for i in range(len(start))
    ]  # fmt: skip
    return Bars(symbol=symbol, timeframe=timeframe, session_time=now, bars=out)
