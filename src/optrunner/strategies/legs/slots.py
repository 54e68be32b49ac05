"""One leg of a ``legs`` structure at run time: its position, its levels and its exit checks.

A slot is the leg's place in the file (``legs[i]``); the contract in it may change when the leg
re-enters. Prices are per unit; ``d`` is +1 for a bought leg and -1 for a sold one, so every
check reads the same for both: a move is favourable when ``d * (price - entry) > 0``. The
checks are a handful of float comparisons (no allocation), run on every snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from optrunner.config.legs import LegConfig, LegsExit
from optrunner.core.orders import Fill
from optrunner.core.types import LegRole, Right, Side
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract

# slot states
IDLE = "idle"  # not in the market and nothing pending
ENTERING = "entering"  # an entry order is working
OPEN = "open"
EXITING = "exiting"  # an exit order is working (or due for a retry)
WAIT_REENTRY = "wait_reentry"  # closed; re-enters at the next snapshot or at cost
DONE = "done"  # closed for this structure


@dataclass(slots=True)
class LegSlot:
    index: int
    name: str
    cfg: LegConfig
    d: int = 0  # +1 BUY, -1 SELL
    right: Right = Right.CE
    state: str = IDLE
    contract: OptionContract | None = None
    qty: int = 0  # signed units held
    avg: float = 0.0  # average price of the open quantity
    price: float = math.nan  # latest mark
    entry_price: float = math.nan  # the price the current stop/target are counted from
    entry_spot: float = math.nan
    stop: float = math.nan  # premium stop level (NaN: none)
    initial_stop: float = math.nan
    target: float = math.nan  # premium target level (NaN: none)
    best: float = 0.0  # largest favourable premium move since entry (rupees per unit)
    realized: float = 0.0
    charges: float = 0.0
    reentries_stop: int = 0
    reentries_target: int = 0
    reentry_mode: str = ""  # while WAIT_REENTRY: re_execute, next_strike or at_cost
    exit_price: float = math.nan  # the last exit's price (at_cost waits for the way back)
    exit_reason: str = ""
    working: set[str] = field(default_factory=set)
    retries: int = 0
    retry_at: datetime | None = None
    key: int = -1  # the chain key of ``keyed`` (recomputed when the contract changes)
    keyed: OptionContract | None = None

    def __post_init__(self) -> None:
        self.d = 1 if self.cfg.action == "BUY" else -1
        self.right = Right(self.cfg.option_type)

    # --- identity -----------------------------------------------------------------------------

    @property
    def side(self) -> Side:
        return Side.BUY if self.d > 0 else Side.SELL

    @property
    def close_side(self) -> Side:
        return Side.SELL if self.d > 0 else Side.BUY

    @property
    def role(self) -> LegRole:
        return LegRole.HEDGE if self.cfg.hedge else LegRole.MAIN

    # --- position -----------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> None:
        self.charges += fill.charges.total
        signed = fill.signed_quantity
        if self.qty == 0 or (self.qty > 0) == (signed > 0):  # opening or adding
            self.avg = (self.avg * abs(self.qty) + fill.price * abs(signed)) / (abs(self.qty) + abs(signed))
            self.qty += signed
            self.contract = fill.contract
            if not math.isfinite(self.price):
                self.price = fill.price
            return
        closing = min(abs(signed), abs(self.qty))
        self.realized += (fill.price - self.avg) * closing * (1 if self.qty > 0 else -1)
        self.qty += signed
        self.exit_price = fill.price
        if self.qty == 0:
            self.avg = 0.0

    @property
    def unrealized(self) -> float:
        if self.qty == 0 or not math.isfinite(self.price):
            return 0.0
        return (self.price - self.avg) * self.qty

    @property
    def pnl(self) -> float:
        return self.realized + self.unrealized - self.charges

    # --- levels -------------------------------------------------------------------------------

    def arm(self, spot: float) -> None:
        """Set the stop and target from the entry price (after an entry or re-entry fills)."""
        c, e, d = self.cfg, self.avg, self.d
        self.entry_price, self.entry_spot, self.best = e, spot, 0.0
        dist = e * c.stop_loss_pct / 100 if c.stop_loss_pct is not None else c.stop_loss_points
        self.initial_stop = self.stop = e - d * dist if dist is not None else math.nan
        reach = e * c.target_pct / 100 if c.target_pct is not None else c.target_points
        self.target = e + d * reach if reach is not None else math.nan
        self.retries, self.retry_at = 0, None

    def _unit(self, value: float) -> float:
        """A trailing amount in rupees: % of the entry price when the stop is in %, else rupees."""
        return self.entry_price * value / 100 if self.cfg.stop_loss_pct is not None else value

    def move_stop_to_cost(self) -> None:
        if math.isfinite(self.stop):
            self.stop = max(self.stop, self.entry_price) if self.d > 0 else min(self.stop, self.entry_price)

    def exit_reason_now(self, spot: float) -> str:
        """STOP_LOSS / TARGET (premium or underlying) hit at the current mark, or ""."""
        price, d, c = self.price, self.d, self.cfg
        if not math.isfinite(price):
            return ""
        move = d * (price - self.entry_price)
        if move > self.best:
            self.best = move
            if c.trail_every is not None and c.trail_by is not None and math.isfinite(self.initial_stop):
                steps = math.floor(move / self._unit(c.trail_every) + 1e-9)
                trailed = self.initial_stop + d * steps * self._unit(c.trail_by)
                self.stop = max(self.stop, trailed) if d > 0 else min(self.stop, trailed)
        if math.isfinite(self.stop) and d * (price - self.stop) <= 0:
            return "STOP_LOSS"
        if math.isfinite(self.target) and d * (price - self.target) >= 0:
            return "TARGET"
        if math.isfinite(self.entry_spot) and (c.stop_loss_underlying_points or c.target_underlying_points):
            # against the leg: the index up for a short CE or a long PE
            against = (spot - self.entry_spot) * (1 if (self.right is Right.CE) != (d > 0) else -1)
            if c.stop_loss_underlying_points is not None and against >= c.stop_loss_underlying_points:
                return "STOP_LOSS"
            if c.target_underlying_points is not None and -against >= c.target_underlying_points:
                return "TARGET"
        return ""

    def back_at_cost(self) -> bool:
        """at_cost re-entry: the premium has come back to the old entry price from the exit's side."""
        p, e, x = self.price, self.entry_price, self.exit_price
        if not (math.isfinite(p) and math.isfinite(e) and math.isfinite(x)):
            return False
        return p <= e if x > e else p >= e

    # --- state --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state, "contract": self.contract.id if self.contract else None, "qty": self.qty,
            "avg": self.avg, "price": _num(self.price), "entry_price": _num(self.entry_price),
            "entry_spot": _num(self.entry_spot), "stop": _num(self.stop), "initial_stop": _num(self.initial_stop),
            "target": _num(self.target), "best": self.best, "realized": self.realized, "charges": self.charges,
            "reentries_stop": self.reentries_stop, "reentries_target": self.reentries_target,
            "reentry_mode": self.reentry_mode, "exit_price": _num(self.exit_price), "exit_reason": self.exit_reason,
            "working": sorted(self.working), "retries": self.retries,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
        }  # fmt: skip

    def restore(self, d: dict[str, Any]) -> None:
        self.state, self.qty, self.avg = d["state"], d["qty"], d["avg"]
        self.contract = OptionContract.from_id(d["contract"]) if d["contract"] else None
        for name in ("price", "entry_price", "entry_spot", "stop", "initial_stop", "target", "exit_price"):
            setattr(self, name, math.nan if d[name] is None else d[name])
        self.best, self.realized, self.charges = d["best"], d["realized"], d["charges"]
        self.reentries_stop, self.reentries_target = d["reentries_stop"], d["reentries_target"]
        self.reentry_mode, self.exit_reason = d["reentry_mode"], d["exit_reason"]
        self.working, self.retries = set(d["working"]), d["retries"]
        self.retry_at = datetime.fromisoformat(d["retry_at"]) if d["retry_at"] else None


def mtm_reason(x: LegsExit, mtm: float, peak: float, premium: float) -> str:
    """The overall MTM exit due at ``mtm`` (rupees, net) after a best of ``peak``, or "";
    ``premium`` is the structure's net premium at entry (the % exits' base)."""
    if x.mtm_stop_loss is not None and mtm <= -x.mtm_stop_loss:
        return "MTM_STOP_LOSS"
    if x.mtm_target is not None and mtm >= x.mtm_target:
        return "MTM_TARGET"
    if premium > 0 and x.mtm_stop_loss_pct is not None and mtm <= -premium * x.mtm_stop_loss_pct / 100:
        return "MTM_STOP_LOSS_PCT"
    if premium > 0 and x.mtm_target_pct is not None and mtm >= premium * x.mtm_target_pct / 100:
        return "MTM_TARGET_PCT"
    lt = x.lock_and_trail
    if lt is not None and peak >= lt.at:
        lock = lt.lock
        if lt.every is not None and lt.by is not None:
            lock += lt.by * math.floor((peak - lt.at) / lt.every + 1e-9)
        if mtm <= lock:
            return "LOCK_AND_TRAIL"
    return ""


def mark_price(snapshot: ChainSnapshot, i: int) -> float:
    """Row ``i``'s LTP, else its bid/ask mid, else NaN."""
    ltp = float(snapshot.ltp[i])
    if ltp > 0:
        return ltp
    bid, ask = float(snapshot.bid[i]), float(snapshot.ask[i])
    return 0.5 * (bid + ask) if bid > 0 and ask > 0 else math.nan


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


__all__ = ["DONE", "ENTERING", "EXITING", "IDLE", "OPEN", "WAIT_REENTRY", "LegSlot", "mark_price", "mtm_reason"]
