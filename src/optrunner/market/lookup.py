"""Option lookup on a chain snapshot: nearest by any field, top-N, weighted, by offset, by premium.

The seed platform's ``find_option`` had two bugs that picked the wrong contract with real
money behind it: puts were matched on *signed* delta (a target of 0.20 found the
farthest-OTM put in the chain), and with no path it opened "the newest sqlite file" in a
folder, whatever symbol or expiry that was. Here:

* delta is compared as ``|delta|`` against ``|target|`` unless ``use_absolute=False``;
* a delta match must lie within a tolerance (default 0.05, never above 0.15), so a chain
  with no suitable strike returns None instead of a far-away contract (``find_options``,
  a listing, applies a tolerance only when given one);
* rows must have ``ltp > min_ltp`` and pass the liquidity filters; NaN never matches;
* a chain older than ``max_age_seconds`` returns None (logged) — stale data blocks entries;
* the chain is passed in, or read from an explicit ``db_path``; nothing is guessed.

Everything is a NumPy mask/argmin over the snapshot's columns (no Python loop over rows),
so a lookup costs microseconds and strategies may call it on every tick. Ties go to the
strike nearer the money (|strike - forward|), then the lower strike, then the nearer expiry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from optrunner.core.timeutil import to_ist
from optrunner.core.types import Right
from optrunner.data.seed_db import read_seed_db
from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot, OptionQuote
from optrunner.instruments.calendar import calendar_for
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import get_index

log = logging.getLogger(__name__)

DELTA_TOLERANCE = 0.05
DELTA_TOLERANCE_CAP = 0.15
EXPIRY_CHOICES = ("nearest", "weekly", "next_weekly", "monthly")
LOOKUP_FIELDS = ("strike", "mid", *FLOAT_COLUMNS)
_TIE_DECIMALS = 9  # distances equal to 1e-9 are ties (0.35-0.30 vs 0.30-0.25 in floats)
_TIE = 10.0**-_TIE_DECIMALS
_EDGE = 1e-12  # a row exactly at the tolerance edge is inside it
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_RIGHTS = {"CE": True, "C": True, "CALL": True, "PE": False, "P": False, "PUT": False}

ExpirySpec = date | str | None


def _is_call(option_type: Right | str) -> bool:
    if isinstance(option_type, Right):
        return option_type.is_call
    try:
        return _RIGHTS[str(option_type).strip().upper()]
    except KeyError:
        raise ValueError(f"option_type {option_type!r} is not CE or PE") from None


def _column(chain: ChainSnapshot, field: str) -> np.ndarray:
    """A chain column by name (case-insensitive); ``mid`` is the bid/ask mid, else LTP."""
    name = field.lower()
    if name == "mid":
        quoted = (chain.bid > 0) & (chain.ask > 0)
        return np.where(quoted, 0.5 * (chain.bid + chain.ask), chain.ltp)
    if name not in LOOKUP_FIELDS:
        raise ValueError(f"unknown lookup field {field!r}; use one of {', '.join(LOOKUP_FIELDS)}")
    return getattr(chain, name)


def resolve_expiry(
    chain: ChainSnapshot, expiry: ExpirySpec, *, allow_expiry_day: bool = False
) -> date | None:
    """The expiry date ``expiry`` names in this chain, or None when the chain has none such.

    ``"nearest"``/``"weekly"``: the first expiry on or after the snapshot's IST date — skipping
    one that expires that same day unless ``allow_expiry_day`` (expiry-day options are gamma
    traps and carry extra margin). ``"next_weekly"``: the one after that. ``"monthly"``: the
    calendar's monthly expiry of the snapshot's month, or of the next month once it has passed.
    A date is returned as given (None if the chain does not carry it).
    """
    if expiry is None:
        raise ValueError(
            "resolve_expiry needs an expiry: a date or one of " + ", ".join(EXPIRY_CHOICES)
        )
    days = chain.expiry.view(np.int64)  # datetime64[D] as days since 1970: fast integer ops
    if isinstance(expiry, date):
        d = expiry.date() if isinstance(expiry, datetime) else expiry
        return d if (days == _day_number(d)).any() else None
    word = str(expiry).strip().lower()
    if word not in EXPIRY_CHOICES:
        raise ValueError(f"expiry {expiry!r}: use a date or one of {', '.join(EXPIRY_CHOICES)}")
    today = to_ist(chain.ts).date()
    if word == "monthly":
        cal = calendar_for(chain.symbol)
        month = cal.monthly_expiry(chain.symbol, today.year, today.month)
        if month < today or (month == today and not allow_expiry_day):
            y, m = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
            month = cal.monthly_expiry(chain.symbol, y, m)
        return month if (days == _day_number(month)).any() else None
    t = _day_number(today)
    later = days[days >= t] if allow_expiry_day else days[days > t]
    if word == "next_weekly" and len(later):
        later = later[later > later.min()]
    return date.fromordinal(int(later.min()) + _EPOCH_ORDINAL) if len(later) else None


def _day_number(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


@dataclass(slots=True)  # not frozen: built on every call, and frozen __init__ costs ~1 us
class _Filters:
    """Row filters shared by every lookup; ``eligible`` is None when the chain is unusable."""

    expiry: ExpirySpec = None
    min_ltp: float = 0.0
    max_spread_pct: float | None = None
    min_oi: float | None = None
    max_age_seconds: float | None = None
    now: datetime | None = None
    allow_expiry_day: bool = False

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> _Filters:
        unknown = set(options) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(
                f"unknown lookup filter(s) {sorted(unknown)}; use {[f.name for f in fields(cls)]}"
            )
        return cls(**options)

    def eligible(self, chain: ChainSnapshot, is_call: bool) -> np.ndarray | None:
        if self.max_age_seconds is not None:
            if self.now is None:
                raise ValueError(
                    "max_age_seconds needs now= (the clock's time; lookups never read wall time)"
                )
            age = (to_ist(self.now) - to_ist(chain.ts)).total_seconds()
            if age > self.max_age_seconds:
                log.warning("%s chain at %s is %.0f s old (> %s s): no option returned",
                            chain.symbol, chain.ts, age, self.max_age_seconds)  # fmt: skip
                return None
        mask = (chain.is_call == is_call) & (chain.ltp > self.min_ltp)
        if self.expiry is not None:
            exp = resolve_expiry(chain, self.expiry, allow_expiry_day=self.allow_expiry_day)
            if exp is None:
                log.info("%s chain at %s has no %r expiry", chain.symbol, chain.ts, self.expiry)
                return None
            mask &= chain.expiry.view(np.int64) == _day_number(exp)
        if self.max_spread_pct is not None:
            # (ask - bid) / mid * 100 <= max, multiplied out: no division, NaN compares False
            bid, ask = chain.bid, chain.ask
            mask &= (bid > 0) & (ask >= bid)
            mask &= 200.0 * (ask - bid) <= self.max_spread_pct * (ask + bid)
        if self.min_oi is not None:
            mask &= chain.oi >= self.min_oi
        return mask


def _chain(
    chain: ChainSnapshot | None, db_path: str | Path | None, symbol: str | None
) -> ChainSnapshot:
    if chain is not None and db_path is not None:
        raise ValueError("pass either chain= or db_path=, not both")
    if chain is None:
        if db_path is None:
            raise ValueError(
                "find_option needs a chain (ChainSnapshot) or db_path= naming a seed option-chain "
                "file; it never picks 'the latest file' in a folder"
            )
        chain, _meta = read_seed_db(db_path)
    if symbol is not None and chain.symbol != symbol.upper():
        raise ValueError(f"asked for {symbol.upper()} options but the chain is {chain.symbol}'s")
    return chain


def _check_tolerance(field: str, tolerance: float | None) -> float | None:
    """A delta tolerance may not exceed the 0.15 hard cap; none may be negative."""
    if tolerance is None:
        return None
    if not tolerance >= 0:
        raise ValueError(f"tolerance {tolerance!r} must be a non-negative number")
    if field.lower() == "delta" and tolerance > DELTA_TOLERANCE_CAP:
        raise ValueError(f"delta tolerance {tolerance} exceeds the hard cap {DELTA_TOLERANCE_CAP}")
    return tolerance


def _distance(
    chain: ChainSnapshot, field: str, value: float, use_absolute: bool | None
) -> np.ndarray:
    """|row[field] - value| per row; ``|row| - |value|`` for delta unless use_absolute=False."""
    if not math.isfinite(value):
        raise ValueError(f"target {field}={value!r} is not a finite number")
    col = _column(chain, field)
    if field.lower() == "delta" if use_absolute is None else use_absolute:
        d = np.abs(col)
        d -= abs(value)
    else:
        d = col - value
    return np.abs(d, out=d)


def _ranked(chain: ChainSnapshot, ok: np.ndarray, dist: np.ndarray, limit: int) -> list[int]:
    """Rows in ``ok`` by (distance to 1e-9, |strike - forward|, strike, expiry); at most ``limit``."""
    if not len(ok):
        return []
    if limit == 1:  # the per-tick path: one argmin, a sort only among near-ties
        d = np.where(ok, dist, np.inf)
        i = int(d.argmin())
        best = d[i]
        if best == np.inf:
            return []
        near = d <= best + _TIE  # holds every row that rounds level with best
        if np.count_nonzero(near) == 1:
            return [i]
        idx = np.flatnonzero(near)
    else:
        idx = np.flatnonzero(ok)
    strike = chain.strike[idx]
    fwd = chain.future[idx]
    ref = np.where(np.isfinite(fwd), fwd, chain.spot)
    tied = np.round(dist[idx], _TIE_DECIMALS)
    order = np.lexsort((chain.key[idx], strike, np.abs(strike - ref), tied))
    return idx[order[:limit]].tolist()


def _search(
    chain: ChainSnapshot, field: str, value: float, option_type: Right | str,
    tolerance: float | None, use_absolute: bool | None, filters: _Filters, limit: int,
) -> list[OptionQuote]:  # fmt: skip
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    is_call = _is_call(option_type)
    tol = _check_tolerance(field, tolerance)
    dist = _distance(chain, field, float(value), use_absolute)
    mask = filters.eligible(chain, is_call)
    if mask is None:
        return []
    mask &= dist < np.inf if tol is None else dist <= tol + _EDGE  # NaN compares False
    rows = _ranked(chain, mask, dist, limit)
    if not rows:
        log.debug(
            "%s: no %s with %s near %s (tolerance %s)", chain.symbol, option_type, field, value, tol
        )
    return [chain.quote(i) for i in rows]


def find_option(
    chain: ChainSnapshot | None = None,
    field: str = "delta",
    value: float = 0.30,
    option_type: Right | str = "CE",
    *,
    tolerance: float | None = None,
    expiry: ExpirySpec = None,
    min_ltp: float = 0.0,
    max_spread_pct: float | None = None,
    min_oi: float | None = None,
    max_age_seconds: float | None = None,
    now: datetime | None = None,
    use_absolute: bool | None = None,
    db_path: str | Path | None = None,
    allow_expiry_day: bool = False,
    symbol: str | None = None,
) -> OptionQuote | None:
    """The ``option_type`` row whose ``field`` is nearest ``value``, or None if none qualifies.

    ``field``: any chain column (delta, gamma, theta, vega, iv, ltp, bid, ask, oi, volume,
    strike, ...) or ``mid``. Delta compares ``|delta|`` with ``|value|`` (``use_absolute``
    defaults to True for delta only), so ``value=0.30, option_type="PE"`` finds delta ~ -0.30.
    ``tolerance``: largest accepted distance (delta: default 0.05, at most 0.15; others: none).
    Filters: ``ltp > min_ltp``; bid/ask spread <= ``max_spread_pct`` % of mid; ``oi >= min_oi``;
    chain age <= ``max_age_seconds`` at ``now``; ``expiry`` a date or one of
    :data:`EXPIRY_CHOICES` (see :func:`resolve_expiry`). ``db_path`` reads a seed SQLite chain
    file instead of ``chain``; ``symbol`` checks the chain is that underlying's.
    """
    f = _Filters(expiry, min_ltp, max_spread_pct, min_oi, max_age_seconds, now, allow_expiry_day)
    chain = _chain(chain, db_path, symbol)
    if tolerance is None and field.lower() == "delta":
        tolerance = DELTA_TOLERANCE
    found = _search(chain, field, value, option_type, tolerance, use_absolute, f, 1)
    return found[0] if found else None


def find_options(
    chain: ChainSnapshot | None = None,
    field: str = "delta",
    value: float = 0.30,
    option_type: Right | str = "CE",
    *,
    limit: int = 5,
    tolerance: float | None = None,
    expiry: ExpirySpec = None,
    min_ltp: float = 0.0,
    max_spread_pct: float | None = None,
    min_oi: float | None = None,
    max_age_seconds: float | None = None,
    now: datetime | None = None,
    use_absolute: bool | None = None,
    db_path: str | Path | None = None,
    allow_expiry_day: bool = False,
    symbol: str | None = None,
) -> list[OptionQuote]:
    """The ``limit`` rows nearest ``value``, nearest first; the rules of :func:`find_option`.

    One difference: no default delta tolerance, because this lists what a chain offers (the
    seed's "which deltas are there?" check). Pass ``tolerance`` to keep only close matches.
    """
    f = _Filters(expiry, min_ltp, max_spread_pct, min_oi, max_age_seconds, now, allow_expiry_day)
    chain = _chain(chain, db_path, symbol)
    return _search(chain, field, value, option_type, tolerance, use_absolute, f, limit)


def find_option_by_criteria(
    chain: ChainSnapshot,
    criteria: Mapping[str, float],
    weights: Mapping[str, float] | None = None,
    option_type: Right | str = "CE",
    **filters: Any,
) -> OptionQuote | None:
    """The row minimising sum(weight_f * |row[f] - target_f|) over ``criteria``.

    Delta is compared in absolute value (a put's -0.25 scores 0 against 0.25). Weights
    default to 1; fields on different scales (delta vs ltp) need weights to be comparable.
    A row with NaN in any criterion never matches. ``filters``: the keyword filters of
    :func:`find_option` (expiry, min_ltp, max_spread_pct, min_oi, max_age_seconds, now,
    allow_expiry_day).
    """
    if not criteria:
        raise ValueError("criteria is empty: give at least one {field: target}")
    weights = dict(weights or {})
    stray = set(weights) - set(criteria)
    if stray:
        raise ValueError(f"weights for fields not in criteria: {sorted(stray)}")
    mask = _Filters.of(filters).eligible(chain, _is_call(option_type))
    if mask is None:
        return None
    score = np.zeros(len(chain))
    for field, target in criteria.items():
        w = float(weights.get(field, 1.0))
        if not w >= 0:
            raise ValueError(f"weight for {field!r} must be non-negative, got {w!r}")
        score += w * _distance(chain, field, float(target), None)
    rows = _ranked(chain, mask & np.isfinite(score), score, 1)
    return chain.quote(rows[0]) if rows else None


def option_at_offset(
    chain: ChainSnapshot,
    option_type: Right | str,
    steps: int,
    *,
    expiry: ExpirySpec = "nearest",
    strike_step: float | None = None,
    min_ltp: float = 0.0,
    allow_expiry_day: bool = False,
) -> OptionQuote | None:
    """The option ``steps`` strike steps from ATM, out of the money for positive ``steps``.

    Strike = ATM + steps x step for calls and ATM - steps x step for puts, ATM being the
    listed strike nearest the expiry's forward. ``strike_step`` defaults to the index's
    (``indices.json``). None when that strike is not listed or its ``ltp <= min_ltp``.
    """
    is_call = _is_call(option_type)
    exp = resolve_expiry(chain, expiry, allow_expiry_day=allow_expiry_day)
    if exp is None:
        log.info("%s chain at %s has no %r expiry", chain.symbol, chain.ts, expiry)
        return None
    step = get_index(chain.symbol).strike_step if strike_step is None else float(strike_step)
    strike = chain.atm_strike(exp) + (1 if is_call else -1) * steps * step
    i = chain.index_of(OptionContract(chain.symbol, exp, strike, Right.CE if is_call else Right.PE))
    if i is None or not chain.ltp[i] > min_ltp:
        return None
    return chain.quote(i)


def find_option_by_premium(
    chain: ChainSnapshot,
    premium: float,
    option_type: Right | str = "CE",
    *,
    price_field: str = "ltp",
    tolerance: float | None = None,
    **filters: Any,
) -> OptionQuote | None:
    """The option whose price (``ltp``, or ``mid``/``bid``/``ask``) is nearest ``premium``.

    ``filters``: the keyword filters of :func:`find_option`.
    """
    if price_field.lower() not in ("ltp", "mid", "bid", "ask"):
        raise ValueError(f"price_field {price_field!r}: use ltp, mid, bid or ask")
    f = _Filters.of(filters)
    rows = _search(chain, price_field, premium, option_type, tolerance, False, f, 1)
    return rows[0] if rows else None
