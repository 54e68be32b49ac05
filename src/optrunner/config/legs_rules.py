"""Cross-field rules of the ``legs`` kind: contradictions a file can hold, each with its JSON path.

Each rule reads whole sections through the same ``Lookup`` as ``rules.py`` and stays silent
when a section it needs is broken or absent (that problem is reported on its own). A hedge is
"further out of the money" than its main leg when both use the same strike rule and the
hedge's value says so (more steps, a smaller delta or premium, a wider straddle multiple, a
strike beyond it); legs chosen by different rules are compared at entry instead, where the
strategy refuses to enter a hedge that is not further out (it counts ``hedge_not_otm``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from optrunner.config.issues import ConfigIssue
from optrunner.config.legs import STRIKE_RULE_FIELD, LegConfig, LegsEntry, LegsExit
from optrunner.core.types import Product

Lookup = Callable[[str], Any]
VALUE_FIELDS = tuple(sorted(set(STRIKE_RULE_FIELD.values())))


MAX_LEGS = 12


def _legs(get: Lookup) -> tuple[dict[int, LegConfig], bool]:
    """The valid legs by position, and whether every leg is valid. A validated config gives the
    whole tuple; a raw file is read leg by leg (``legs[i]``) so one broken leg hides nothing."""
    if get("strategy") != "legs":
        return {}, False
    legs = get("legs")
    if isinstance(legs, tuple):
        return dict(enumerate(legs)), True
    found: dict[int, LegConfig] = {}
    complete = True
    for i in range(MAX_LEGS):
        leg = get(f"legs[{i}]")
        if leg is None:
            break
        if isinstance(leg, LegConfig):
            found[i] = leg
        else:
            complete = False
    return found, complete and bool(found)


def further_out(hedge: LegConfig, main: LegConfig) -> bool | None:
    """Whether ``hedge``'s strike rule puts it further out of the money than ``main``'s; None
    when the two rules cannot be compared before the chain is seen."""
    h, m = hedge.strike, main.strike
    if h.rule != m.rule:
        return None
    field = STRIKE_RULE_FIELD[h.rule]
    a, b = getattr(h, field), getattr(m, field)
    if a is None or b is None:
        return None
    if h.rule in ("atm_offset", "straddle_width"):
        return a > b
    if h.rule == "closest_delta" or h.rule.startswith(("closest_premium", "premium")):
        return a < b
    return a > b if hedge.option_type == "CE" else a < b  # fixed strikes


def _leg_issues(i: int, leg: LegConfig) -> Iterator[ConfigIssue]:
    p = f"legs[{i}]"
    s = leg.strike
    wanted = STRIKE_RULE_FIELD[s.rule]
    if getattr(s, wanted) is None:
        yield ConfigIssue(f"{p}.strike.{wanted}", f"missing required field — the {s.rule} rule reads it")
    for name in VALUE_FIELDS:
        if name != wanted and getattr(s, name) is not None:
            users = sorted(r for r, f in STRIKE_RULE_FIELD.items() if f == name)
            yield ConfigIssue(f"{p}.strike.{name}", f"only used by the {' / '.join(users)} rule, not {s.rule} — remove it")
    if leg.stop_loss_pct is not None and leg.stop_loss_points is not None:
        yield ConfigIssue(f"{p}.stop_loss_points", "give stop_loss_pct or stop_loss_points, not both")
    if leg.target_pct is not None and leg.target_points is not None:
        yield ConfigIssue(f"{p}.target_points", "give target_pct or target_points, not both")
    if leg.action == "BUY" and leg.stop_loss_pct is not None and leg.stop_loss_pct >= 100:
        yield ConfigIssue(f"{p}.stop_loss_pct", f"{leg.stop_loss_pct:g} % can never hit — a bought premium cannot fall 100 % or more")
    if leg.action == "SELL" and leg.target_pct is not None and leg.target_pct >= 100:
        yield ConfigIssue(f"{p}.target_pct", f"{leg.target_pct:g} % can never hit — a sold premium cannot fall 100 % or more")
    premium_stop = leg.stop_loss_pct is not None or leg.stop_loss_points is not None
    any_stop = premium_stop or leg.stop_loss_underlying_points is not None
    any_target = any(v is not None for v in (leg.target_pct, leg.target_points, leg.target_underlying_points))
    yield from _trail_issues(p, leg, premium_stop)
    if leg.move_sl_to_cost and not premium_stop:
        yield ConfigIssue(f"{p}.move_sl_to_cost", "needs a premium stop on this leg (stop_loss_pct or stop_loss_points) to move")
    for what, mode, has, square in (("stop", leg.reentry_on_stop, any_stop, leg.on_stop),
                                    ("target", leg.reentry_on_target, any_target, leg.on_target)):  # fmt: skip
        if mode is None:
            continue
        if not has:
            yield ConfigIssue(f"{p}.reentry_on_{what}", f"this leg has no {what} to re-enter after — set one or remove it")
        elif square == "all":
            yield ConfigIssue(
                f"{p}.reentry_on_{what}",
                f'on_{what} "all" closes the whole structure — a leg re-entry needs on_{what} "leg"',
            )
    if leg.hedge and leg.action != "BUY":
        yield ConfigIssue(f"{p}.hedge", "a hedge is a protective BUY — set action to BUY or hedge to false")


def _trail_issues(p: str, leg: LegConfig, premium_stop: bool) -> Iterator[ConfigIssue]:
    every, by = leg.trail_every, leg.trail_by
    if every is None and by is None:
        return
    if every is None or by is None:
        missing = "trail_every" if every is None else "trail_by"
        yield ConfigIssue(f"{p}.{missing}", "missing required field — a trailing stop needs trail_every and trail_by")
        return
    if not premium_stop:
        yield ConfigIssue(f"{p}.trail_every", "trails the premium stop, and this leg has none — set stop_loss_pct or stop_loss_points")
    if by > every:
        yield ConfigIssue(
            f"{p}.trail_by",
            f"{by:g} is larger than trail_every {every:g} — the stop would move faster than the price and pass it",
        )


def _hedge_issues(legs: tuple[LegConfig, ...]) -> Iterator[ConfigIssue]:
    for i, hedge in enumerate(legs):
        if not hedge.hedge or hedge.action != "BUY":
            continue
        mains = [(j, m) for j, m in enumerate(legs) if not m.hedge and m.action == "SELL"
                 and m.option_type == hedge.option_type and m.expiry == hedge.expiry]  # fmt: skip
        if not mains:
            yield ConfigIssue(
                f"legs[{i}].hedge",
                f"no SELL {hedge.option_type} leg on the {hedge.expiry} expiry to protect — a hedge protects a "
                "sold leg of its own type and expiry",
            )
            continue
        for j, main in mains:
            if further_out(hedge, main) is False:
                field = STRIKE_RULE_FIELD[hedge.strike.rule]
                yield ConfigIssue(
                    f"legs[{i}].strike.{field}",
                    f"{getattr(hedge.strike, field):g} puts the hedge no further out of the money than legs[{j}] "
                    f"({getattr(main.strike, field):g}) — a hedge must be further out than the leg it protects",
                )


def legs_needs(get: Lookup) -> Iterator[ConfigIssue]:
    """Every contradiction in the ``legs``, ``legs_entry`` and ``legs_exit`` sections."""
    found, complete = _legs(get)
    for i, leg in found.items():
        yield from _leg_issues(i, leg)
    if complete:  # checks across legs need them all
        legs = tuple(found.values())
        yield from _hedge_issues(legs)
        names = [leg.name for leg in legs if leg.name]
        for i, leg in enumerate(legs):
            if leg.name and names.count(leg.name) > 1:
                yield ConfigIssue(f"legs[{i}].name", f'"{leg.name}" names more than one leg — names must be distinct')
        most = get("risk_management.max_concurrent_legs")
        if isinstance(most, int) and most < len(legs):
            yield ConfigIssue(
                "risk_management.max_concurrent_legs",
                f"{most} is too few — the file has {len(legs)} legs: use at least {len(legs)}",
            )
    if get("strategy") != "legs":
        return
    entry, exit_ = get("legs_entry"), get("legs_exit")
    if isinstance(entry, LegsEntry):
        yield from _entry_issues(entry)
    if isinstance(exit_, LegsExit):
        yield from _exit_issues(exit_, get("execution.product"))
    exit_time = exit_.time if isinstance(exit_, LegsExit) else (LegsExit().time if exit_ is None else None)
    if isinstance(entry, LegsEntry) and exit_time is not None and exit_time <= entry.time:
        yield ConfigIssue(
            "legs_exit.time",
            f"{exit_time:%H:%M} is not after legs_entry.time {entry.time:%H:%M} — the exit must come after the entry",
        )


def _entry_issues(e: LegsEntry) -> Iterator[ConfigIssue]:
    if e.dte_min is not None and e.dte_max is not None and e.dte_min > e.dte_max:
        yield ConfigIssue("legs_entry.dte_max", f"{e.dte_max} is below dte_min {e.dte_min} — no day could enter")
    if e.spot_above is not None and e.spot_below is not None and e.spot_above >= e.spot_below:
        yield ConfigIssue(
            "legs_entry.spot_below",
            f"{e.spot_below:g} is not above spot_above {e.spot_above:g} — the index can never be in between",
        )
    w = e.wait_and_trade
    if w is not None and (w.pct is None) == (w.points is None):
        yield ConfigIssue("legs_entry.wait_and_trade.pct", "give exactly one of pct or points — the move to wait for")


def _exit_issues(x: LegsExit, product: Any) -> Iterator[ConfigIssue]:
    lt = x.lock_and_trail
    if lt is not None:
        if lt.lock >= lt.at:
            yield ConfigIssue(
                "legs_exit.lock_and_trail.lock",
                f"{lt.lock:g} is not below at {lt.at:g} — the lock would exit as soon as it arms",
            )
        if (lt.every is None) != (lt.by is None):
            missing = "every" if lt.every is None else "by"
            yield ConfigIssue(f"legs_exit.lock_and_trail.{missing}", "missing required field — trailing needs every and by")
        elif lt.every is not None and lt.by is not None and lt.by > lt.every:
            yield ConfigIssue(
                "legs_exit.lock_and_trail.by",
                f"{lt.by:g} is larger than every {lt.every:g} — the locked profit would pass the profit itself",
            )
    if x.hold_to_expiry and product == Product.MIS:
        yield ConfigIssue(
            "legs_exit.hold_to_expiry",
            "true carries positions overnight, but the broker squares off MIS positions — use execution.product NRML",
        )


__all__ = ["further_out", "legs_needs"]
