"""The portfolio: every strategy's positions, marked to the chain, with account P&L and risk.

Backtest, paper and live all book fills and marks here, so a strategy's P&L means the same
in each mode. Two costs shape the layout:

* ``mark(snapshot)`` runs once per chain snapshot (every minute of a backtest), so open
  positions are indexed by underlying and each is found in the chain by a binary search
  (``ChainSnapshot.index_of``): O(open positions x log rows), no pandas.
* ``equity`` is needed after every mark (peak, drawdown), so realised P&L, charges and
  premium are running totals, per strategy and for the account; only the unrealised part
  is summed, over open positions alone.

The running totals are stored in the state too, so ``from_state(to_state())`` restores the
same numbers to the last bit (re-adding them in another order would not).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from numbers import Integral, Real
from typing import Any, Literal

from optrunner.core.orders import ChargeBreakdown, Fill
from optrunner.core.saved_once import SavedOnce
from optrunner.core.timeutil import to_ist
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract
from optrunner.portfolio.positions import (
    GREEK_NAMES,
    FillEffect,
    Position,
    add_charges,
    charges_from_dict,
    charges_to_dict,
)

STATE_VERSION = 1
MarkSource = Literal["ltp", "mid"]


@dataclass(slots=True)
class _Totals:
    realized: float = 0.0
    premium_collected: float = 0.0
    charges: ChargeBreakdown = field(default_factory=ChargeBreakdown)

    def add(self, effect: FillEffect) -> None:
        self.realized += effect.realized
        self.premium_collected += effect.premium
        self.charges = add_charges(self.charges, effect.charges)

    def to_state(self) -> dict[str, Any]:
        return {
            "realized": self.realized,
            "premium_collected": self.premium_collected,
            "charges": charges_to_dict(self.charges),
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> _Totals:
        return cls(
            float(d["realized"]), float(d["premium_collected"]), charges_from_dict(d["charges"])
        )


@dataclass(frozen=True, slots=True)
class PnLSummary:
    """P&L and risk of one strategy (or the account when ``strategy`` is None), in rupees.

    ``notional`` is sum |quantity| x strike over open legs: gross index exposure, a size
    measure, not margin. Greeks are signed sums of quantity x per-unit greek (delta per
    index point, vega per vol point, theta per calendar day); ``greeks_missing`` counts
    open legs left out because their chain rows never carried greeks.
    """

    strategy: str | None
    realized: float
    unrealized: float
    charges: float
    gross: float
    net: float
    premium_collected: float
    open_legs: int
    notional: float
    delta: float
    gamma: float
    vega: float
    theta: float
    greeks_missing: int
    charge_breakdown: ChargeBreakdown

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["charge_breakdown"] = charges_to_dict(self.charge_breakdown)
        return d


class Portfolio:
    """All strategies' positions on an account with ``capital`` rupees.

    ``mark`` chooses the price positions are marked at: "ltp" (default; falls back to
    the bid/ask mid when LTP is missing or 0) or "mid" (falls back to LTP).
    """

    def __init__(self, capital: float, *, mark: MarkSource = "ltp") -> None:
        if not (isinstance(capital, Real) and math.isfinite(capital)):
            raise ValueError(f"Portfolio: capital must be a finite number, got {capital!r}")
        if mark not in ("ltp", "mid"):
            raise ValueError(f"Portfolio: mark must be 'ltp' or 'mid', got {mark!r}")
        self.capital = float(capital)
        self.mark_source: MarkSource = mark
        self._positions: dict[tuple[str, str], Position] = {}
        self._open: dict[str, dict[tuple[str, str], Position]] = {}  # underlying -> open legs
        self._totals: dict[str, _Totals] = {}
        self._account = _Totals()
        self.day: date | None = None
        self.day_start_equity = self.capital
        self.peak_equity = self.capital
        self.max_drawdown = 0.0
        self.mark_misses = 0  # marks kept because the contract had no usable price
        self._flat: SavedOnce[tuple[str, str], Position] | None = None  # see track_flat

    # --- booking ------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> Position:
        """Book a fill (or an expiry settlement, ``is_settlement=True``, at intrinsic value)."""
        _check_fill(fill)
        key = (fill.strategy, fill.contract.id)
        pos = self._positions.get(key)
        if fill.is_settlement:
            _check_settlement(fill, pos)
        if pos is None:
            pos = self._positions[key] = Position(fill.strategy, fill.contract)
            if self._flat is not None:
                self._flat.added(key)
        effect = pos.apply(fill)
        self._totals.setdefault(fill.strategy, _Totals()).add(effect)
        self._account.add(effect)
        book = self._open.setdefault(fill.contract.underlying, {})
        if effect.is_open:
            book[key] = pos
        else:
            book.pop(key, None)
            if self._flat is not None:
                self._flat.unsaved[key] = pos
        self._observe_equity()
        return pos

    def mark(self, snapshot: ChainSnapshot) -> int:
        """Mark every open position on ``snapshot.symbol``; returns how many got a new price.

        A contract the snapshot lacks, or whose row has no usable price, keeps its last
        mark and is counted in ``mark_misses`` (and the position's ``missed_marks``).
        """
        book = self._open.get(snapshot.symbol)
        marked = 0
        if book:
            use_mid = self.mark_source == "mid"
            for pos in book.values():
                i = snapshot.index_of(pos.contract)
                price = math.nan if i is None else _mark_price(snapshot, i, use_mid)
                if math.isnan(price):
                    pos.missed_marks += 1
                    self.mark_misses += 1
                    continue
                greeks = (
                    float(snapshot.delta[i]), float(snapshot.gamma[i]),
                    float(snapshot.vega[i]), float(snapshot.theta[i]),
                )  # fmt: skip
                pos.set_mark(price, snapshot.ts, greeks)
                marked += 1
        self._observe_equity()
        return marked

    def start_day(self, day: date | datetime) -> None:
        """Begin trading day ``day``: today's P&L is measured from the equity now.

        Calling it again for the same day is a no-op (a restart mid-day keeps its
        baseline); going back in time is an error.
        """
        if isinstance(day, datetime):
            day = to_ist(day).date()
        if self.day is not None and day < self.day:
            raise ValueError(
                f"Portfolio.start_day({day}): already on {self.day}; days only move forward"
            )
        if day != self.day:
            self.day = day
            self.day_start_equity = self.equity

    # --- queries ------------------------------------------------------------------------

    def position(self, strategy: str, contract: OptionContract) -> Position | None:
        return self._positions.get((strategy, contract.id))

    def position_by_id(self, strategy: str, contract_id: str) -> Position | None:
        """``position`` for a caller that already holds the contract's id (a per-mark loop)."""
        return self._positions.get((strategy, contract_id))

    def positions(self, strategy: str | None = None, open_only: bool = True) -> list[Position]:
        if open_only:
            found = (p for book in self._open.values() for p in book.values())
        else:
            found = iter(self._positions.values())
        return [p for p in found if strategy is None or p.strategy == strategy]

    def strategies(self) -> list[str]:
        return sorted(self._totals)

    @property
    def realized(self) -> float:
        return self._account.realized

    @property
    def charges(self) -> float:
        return self._account.charges.total

    @property
    def unrealized(self) -> float:
        return sum(p.unrealized for book in self._open.values() for p in book.values())

    @property
    def equity(self) -> float:
        """capital + realised + unrealised - charges."""
        return self.capital + self._account.realized + self.unrealized - self._account.charges.total

    @property
    def day_pnl(self) -> float:
        return self.equity - self.day_start_equity

    @property
    def drawdown(self) -> float:
        """Rupees below the highest equity seen (at fills and marks)."""
        return self.peak_equity - self.equity

    @property
    def drawdown_pct(self) -> float:
        return 100.0 * self.drawdown / self.peak_equity if self.peak_equity > 0 else math.nan

    def summary(self, strategy: str | None = None) -> PnLSummary:
        """One strategy's P&L and greeks, or the account's (the sum over strategies)."""
        if strategy is None:
            totals = self._account
        elif strategy in self._totals:
            totals = self._totals[strategy]
        else:
            known = ", ".join(self.strategies()) or "none yet"
            raise KeyError(f"no fills booked for strategy {strategy!r}; strategies: {known}")
        legs = self.positions(strategy, open_only=True)
        unrealized = sum(p.unrealized for p in legs)
        charges = totals.charges.total
        greek_sum = dict.fromkeys(GREEK_NAMES, 0.0)
        missing = 0
        for p in legs:
            g = p.greeks()
            if g is None:
                missing += 1
                continue
            for name in GREEK_NAMES:
                greek_sum[name] += getattr(g, name)
        return PnLSummary(
            strategy=strategy,
            realized=totals.realized,
            unrealized=unrealized,
            charges=charges,
            gross=totals.realized + unrealized,
            net=totals.realized + unrealized - charges,
            premium_collected=totals.premium_collected,
            open_legs=len(legs),
            notional=sum(p.notional for p in legs),
            greeks_missing=missing,
            charge_breakdown=totals.charges,
            **greek_sum,
        )

    # --- state --------------------------------------------------------------------------

    # Flat positions are saved once each for an incremental checkpoint (core/saved_once.py):
    # only a fill changes a position, and a fill on a flat one reopens it (a checkpoint then
    # holds it again until it is flat, and saved, again). Marks touch open positions only.

    def track_flat(self, unsaved: bool = True) -> None:
        """Start noting which flat positions are not saved yet; ``unsaved``: every position
        already flat counts as not saved."""
        self._flat = SavedOnce(self._positions, _is_flat, unsaved=unsaved)

    def flat_state(self) -> list[list[Any]]:
        """The flat positions not saved yet, as ``[rank, position]`` (kept until :meth:`flat_saved`)."""
        if self._flat is None:
            raise RuntimeError("flat positions are not tracked: call track_flat() first")
        return self._flat.pending(Position.to_state)

    def flat_saved(self) -> None:
        """What :meth:`flat_state` returned is durable."""
        if self._flat is not None:
            self._flat.saved()

    def live_state(self) -> dict[str, Any]:
        """:meth:`to_state` with only the open positions, each as ``[rank, position]``."""
        if self._flat is None:
            raise RuntimeError("flat positions are not tracked: call track_flat() first")
        state = self.to_state(positions=False)
        live = ((k, p) for book in self._open.values() for k, p in book.items())
        state["positions"] = self._flat.ranked(live, Position.to_state)
        return state

    def to_state(self, positions: bool = True) -> dict[str, Any]:
        """Plain dicts, lists, str, int, float and None (JSON-ready, no NaN); without
        ``positions``, all of it but the positions."""
        return {
            "version": STATE_VERSION,
            "capital": self.capital,
            "mark": self.mark_source,
            "day": None if self.day is None else self.day.isoformat(),
            "day_start_equity": self.day_start_equity,
            "peak_equity": self.peak_equity,
            "max_drawdown": self.max_drawdown,
            "mark_misses": self.mark_misses,
            "account": self._account.to_state(),
            "strategies": {name: t.to_state() for name, t in self._totals.items()},
            "positions": [p.to_state() for p in self._positions.values()] if positions else [],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Portfolio:
        """Rebuild a portfolio from :meth:`to_state` output (crash recovery)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"portfolio state version {state.get('version')!r}; this build reads {STATE_VERSION}"
            )
        try:
            pf = cls(state["capital"], mark=state["mark"])
            pf.day = None if state["day"] is None else date.fromisoformat(state["day"])
            pf.day_start_equity = float(state["day_start_equity"])
            pf.peak_equity = float(state["peak_equity"])
            pf.max_drawdown = float(state["max_drawdown"])
            pf.mark_misses = int(state["mark_misses"])
            pf._account = _Totals.from_state(state["account"])
            pf._totals = {name: _Totals.from_state(t) for name, t in state["strategies"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"portfolio state: bad or missing field ({exc!r})") from exc
        for n, raw in enumerate(state.get("positions", [])):
            try:
                pos = Position.from_state(raw)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"portfolio state: positions[{n}] bad or missing field ({exc!r})"
                ) from exc
            pf._positions[pos.key] = pos
            if pos.is_open:
                pf._open.setdefault(pos.contract.underlying, {})[pos.key] = pos
        return pf

    # --- internals ----------------------------------------------------------------------

    def _observe_equity(self) -> None:
        eq = self.equity
        if eq > self.peak_equity:
            self.peak_equity = eq
        self.max_drawdown = max(self.max_drawdown, self.peak_equity - eq)


def _is_flat(p: Position) -> bool:
    return not p.is_open


def _mark_price(snap: ChainSnapshot, i: int, use_mid: bool) -> float:
    """LTP or mid of row ``i``, each falling back to the other; NaN when neither is usable."""
    ltp = float(snap.ltp[i])
    bid, ask = float(snap.bid[i]), float(snap.ask[i])
    mid = 0.5 * (bid + ask) if bid > 0 and ask > 0 else math.nan
    first, second = (mid, ltp) if use_mid else (ltp, mid)
    if first > 0:
        return first
    return second if second > 0 else math.nan


def _check_fill(fill: Fill) -> None:
    where = f"fill {fill.fill_id!r} ({fill.strategy}, {fill.contract.id})"
    if (
        isinstance(fill.quantity, bool)
        or not isinstance(fill.quantity, Integral)
        or fill.quantity <= 0
    ):
        raise ValueError(
            f"{where}: quantity must be a positive whole number of units, got {fill.quantity!r}"
        )
    if not (math.isfinite(fill.price) and fill.price >= 0):
        raise ValueError(f"{where}: price must be finite and >= 0, got {fill.price!r}")
    if not all(math.isfinite(v) for v in charges_to_dict(fill.charges).values()):
        raise ValueError(f"{where}: charges must be finite, got {fill.charges!r}")


def _check_settlement(fill: Fill, pos: Position | None) -> None:
    """A settlement closes (part of) an open position; it can never open or flip one."""
    where = f"settlement fill {fill.fill_id!r} ({fill.strategy}, {fill.contract.id})"
    if pos is None or not pos.is_open:
        raise ValueError(f"{where}: no open position to settle")
    if (pos.quantity > 0) == (fill.signed_quantity > 0) or fill.quantity > abs(pos.quantity):
        raise ValueError(
            f"{where}: {fill.side.value} {fill.quantity} does not close position {pos.quantity}"
        )
