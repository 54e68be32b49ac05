"""Pre-trade checks. Each returns None to pass or a ``Rejection`` with a stable reason code.

Exposure-increasing orders run every check; orders that only reduce an existing position
(net of orders already working) skip all but the kill switch's HALTED state — an exit is
never blocked by a limit that exists to stop new risk. The entry guard of seeds/001 applies
to ``ENTRY`` orders (new positions), not to a strategy's own adjustment re-entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import to_ist
from optrunner.core.types import Side, Tag
from optrunner.instruments import calendar_for, get_index
from optrunner.risk.limits import StrategyLimits
from optrunner.risk.settings import RiskSettings
from optrunner.risk.view import RiskView


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str
    message: str


def market_hours(intent: OrderIntent, view: RiskView, s: RiskSettings) -> Rejection | None:
    if s.enforce_market_hours and not calendar_for(intent.contract.underlying).is_open(view.now()):
        return Rejection("MARKET_CLOSED", f"market closed at {to_ist(view.now()):%Y-%m-%d %H:%M}")
    return None


def entry_cutoff(intent: OrderIntent, view: RiskView, s: RiskSettings) -> Rejection | None:
    if intent.tag is Tag.ENTRY and to_ist(view.now()).time() >= s.no_new_entries_after:
        return Rejection("ENTRY_CUTOFF", f"no new entries after {s.no_new_entries_after:%H:%M}")
    return None


def stale_data(intent: OrderIntent, view: RiskView, s: RiskSettings) -> Rejection | None:
    age = view.data_age_seconds(intent.contract.underlying)
    if age is None or age > s.stale_after_seconds:
        shown = "no data" if age is None else f"data {age:.0f}s old"
        return Rejection(
            "STALE_DATA",
            f"{intent.contract.underlying}: {shown} (limit {s.stale_after_seconds:.0f}s)",
        )
    if view.quote(intent.contract) is None:
        return Rejection("NO_QUOTE", f"{intent.contract.id} is not in the latest chain")
    return None


def strategy_limits(intent: OrderIntent, view: RiskView, lim: StrategyLimits) -> Rejection | None:
    name, c = intent.strategy, intent.contract
    after = view.position_qty(name, c) + view.pending_qty(name, c) + intent.signed_quantity
    legs = {p.contract for p in view.open_positions(name)} | {
        k for k, q in view.pending_contracts(name) if q
    }
    if c not in legs and len(legs) + 1 > lim.max_concurrent_legs:
        return Rejection(
            "MAX_CONCURRENT_LEGS", f"{len(legs)} legs open, limit {lim.max_concurrent_legs}"
        )
    lot = get_index(c.underlying).lot_size(c.expiry)
    if lim.max_position_size is not None and abs(after) / lot > lim.max_position_size:
        return Rejection(
            "MAX_POSITION_SIZE", f"{abs(after) / lot:g} lots of {c.id} > {lim.max_position_size:g}"
        )
    total, today = view.strategy_pnl(name)
    if lim.max_total_loss is not None and total <= -lim.max_total_loss:
        return Rejection(
            "MAX_TOTAL_LOSS", f"net P&L {total:,.2f} reached -{lim.max_total_loss:,.2f}"
        )
    if lim.max_daily_loss is not None and today <= -lim.max_daily_loss:
        return Rejection(
            "MAX_DAILY_LOSS", f"today's P&L {today:,.2f} reached -{lim.max_daily_loss:,.2f}"
        )
    if lim.notional_value_limit is not None:
        notional = sum(
            abs(p.qty) * p.contract.strike for p in view.open_positions(name) if p.contract != c
        )
        notional += abs(after) * c.strike
        if notional > lim.notional_value_limit:
            return Rejection(
                "NOTIONAL_LIMIT", f"notional {notional:,.0f} > {lim.notional_value_limit:,.0f}"
            )
    if lim.vega_limit is not None or lim.gamma_limit is not None:
        q = view.quote(c)
        vega, gamma = view.strategy_greeks(name)
        if q is None or not (q.vega == q.vega and q.gamma == q.gamma):
            return Rejection(
                "NO_GREEKS", f"{c.id} has no greeks to check vega/gamma limits against"
            )
        vega += intent.signed_quantity * q.vega
        gamma += intent.signed_quantity * q.gamma
        if lim.vega_limit is not None and abs(vega) > lim.vega_limit:
            return Rejection("VEGA_LIMIT", f"net vega {vega:,.1f} beyond {lim.vega_limit:,.1f}")
        if lim.gamma_limit is not None and abs(gamma) > lim.gamma_limit:
            return Rejection("GAMMA_LIMIT", f"net gamma {gamma:,.3f} beyond {lim.gamma_limit:,.3f}")
    return None


def entry_guard(intent: OrderIntent, view: RiskView, s: RiskSettings) -> Rejection | None:
    """seeds/001: exposure per side and underlying, pyramiding, re-entry cooldown, capital."""
    if intent.tag is not Tag.ENTRY:
        return None
    g, c, now = s.entry_guard, intent.contract, view.now()
    same_side = [
        p for p in view.open_positions()
        if p.contract.underlying == c.underlying and p.contract.right is c.right and (p.qty > 0) == (intent.side is Side.BUY)
    ]  # fmt: skip
    if len(same_side) >= g.max_same_side:
        if len(same_side) > 1 or g.max_same_side > 1:
            return Rejection(
                "MAX_SAME_SIDE",
                f"{len(same_side)} open {intent.side.value} {c.right.value} on {c.underlying}",
            )
        first = same_side[0]
        if g.pyramid_requires_profit and first.unrealized <= 0:
            return Rejection("PYRAMID_NOT_PROFITABLE", f"open {first.contract.id} is not in profit")
        age = (now - first.opened_ts).total_seconds() if first.opened_ts else 0.0
        if age < g.pyramid_min_age_seconds:
            return Rejection(
                "PYRAMID_TOO_YOUNG",
                f"open {first.contract.id} is {age:.0f}s old (< {g.pyramid_min_age_seconds:.0f}s)",
            )
    last = view.last_exit(c)
    if last is not None and (now - last).total_seconds() < g.reentry_cooldown_seconds:
        return Rejection(
            "REENTRY_COOLDOWN", f"{c.id} exited {(now - last).total_seconds():.0f}s ago"
        )
    q = view.quote(c)
    spot = view.spot(c.underlying)
    if q is None or spot is None:
        return Rejection("NO_QUOTE", f"no quote for {c.id} to check capital against")
    blocked = sum(
        abs(p.qty) * (view.spot(p.contract.underlying) or 0.0) * g.short_margin_pct
        for p in view.open_positions() if p.qty < 0
    )  # fmt: skip
    need = (
        intent.quantity * (q.ask if q.ask == q.ask and q.ask > 0 else q.ltp)
        if intent.side is Side.BUY
        else (intent.quantity * spot * g.short_margin_pct)
    )
    free = view.available_capital() - blocked
    if need > free:
        return Rejection("INSUFFICIENT_CAPITAL", f"needs {need:,.0f}, {free:,.0f} free")
    return None
