"""The ``legs`` strategy's bookkeeping: its phase, the day's counters, the structure's premium
and P&L, the timeline for the report — and their round trip through ``get_state`` /
``restore_state`` (crash recovery, and a hot reload that carries a running structure over to
a new build: runner_reload.build_carrying_state).

A mixin of ``LegsStrategy`` (strategy.py), kept apart so the rules there read as the rules.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from optrunner.instruments.contracts import OptionContract
from optrunner.strategies.legs.slots import LegSlot

TIMELINE_LIMIT = 5000  # events kept for the report (a year of a busy structure fits)


class Phase(StrEnum):
    IDLE = "IDLE"  # flat, may enter
    WAITING = "WAITING"  # wait-and-trade armed: strikes chosen, waiting for the premium move
    ENTERING = "ENTERING"  # entry basket working
    ACTIVE = "ACTIVE"  # legs open (or waiting to re-enter)
    EXITING = "EXITING"  # closing everything
    DONE = "DONE"  # finished for the day


class LegsState:
    """The mutable state of one structure, what is reported of it, and its serialisation."""

    slots: list[LegSlot]

    def _init_state(self) -> None:
        self.phase = Phase.IDLE
        self.day: date | None = None
        self.entries_today = 0
        self.failed_today = 0
        self.retry_at: datetime | None = None  # next entry attempt after a failed one
        self.exit_reason = ""
        self.entry_failed = False  # an entry order ended unfilled: waiting for the router's unwind
        self.net_premium = 0.0  # |premium sold - premium bought| at entry, rupees
        self.peak_mtm = -math.inf
        self.pending: list[OptionContract] = []  # wait-and-trade: the chosen contracts, by slot
        self.reference = math.nan  # wait-and-trade: their combined premium at the entry time
        self.structure_pnl = 0.0  # closed P&L of finished structures
        self.leg_pnl = Counter[str]()  # closed P&L by leg name, every structure
        self.counts = Counter[str]()
        self.timeline: list[list[Any]] = []  # [ts, leg, event, price, contract]
        self.last_structure: dict[str, Any] = {}  # the legs as last entered: [name, contract, signed qty, price]

    def _event(self, ts: datetime | None, slot: LegSlot, event: str, price: float) -> None:
        if len(self.timeline) < TIMELINE_LIMIT:
            self.timeline.append([ts.isoformat() if ts else None, slot.name, event,
                                  round(price, 2) if math.isfinite(price) else None,
                                  slot.contract.id if slot.contract else None])  # fmt: skip

    # --- metrics and state --------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Counters, closed P&L per leg and the stops/targets/re-entries timeline (for the report)."""
        return {**dict(self.counts), "closed_pnl": round(self.structure_pnl, 2),
                "leg_pnl": {s.name: round(self.leg_pnl.get(s.name, 0.0), 2) for s in self.slots},
                "timeline": list(self.timeline), "last_structure": self.last_structure}  # fmt: skip

    def get_state(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value, "day": self.day.isoformat() if self.day else None,
            "entries_today": self.entries_today, "failed_today": self.failed_today,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None, "exit_reason": self.exit_reason,
            "entry_failed": self.entry_failed,
            "net_premium": self.net_premium, "peak_mtm": self.peak_mtm if math.isfinite(self.peak_mtm) else None,
            "pending": [c.id for c in self.pending],
            "reference": self.reference if math.isfinite(self.reference) else None,
            "structure_pnl": self.structure_pnl, "leg_pnl": dict(self.leg_pnl), "counts": dict(self.counts),
            "slots": [s.to_dict() for s in self.slots],
        }  # fmt: skip

    def restore_state(self, state: dict[str, Any]) -> None:
        self.phase = Phase(state["phase"])
        self.day = date.fromisoformat(state["day"]) if state["day"] else None
        self.entries_today, self.failed_today = state["entries_today"], state["failed_today"]
        self.retry_at = datetime.fromisoformat(state["retry_at"]) if state["retry_at"] else None
        self.exit_reason, self.net_premium = state["exit_reason"], state["net_premium"]
        self.entry_failed = state["entry_failed"]
        self.peak_mtm = state["peak_mtm"] if state["peak_mtm"] is not None else -math.inf
        self.pending = [OptionContract.from_id(c) for c in state["pending"]]
        self.reference = state["reference"] if state["reference"] is not None else math.nan
        self.structure_pnl = state["structure_pnl"]
        self.leg_pnl, self.counts = Counter(state["leg_pnl"]), Counter(state["counts"])
        for slot, d in zip(self.slots, state["slots"], strict=True):
            slot.restore(d)


__all__ = ["TIMELINE_LIMIT", "LegsState", "Phase"]
