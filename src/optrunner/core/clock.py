"""Clocks: simulated (backtest, replay) and wall (paper, live). The only source of "now"."""

from __future__ import annotations

import time as _time
from datetime import datetime
from typing import Protocol

from optrunner.core.timeutil import IST


class Clock(Protocol):
    def now(self) -> datetime: ...


class SimClock:
    """Moves only when the replay says so, and never backwards (no look-ahead, no time travel)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start

    def now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("SimClock has not been advanced yet")
        return self._now

    def advance(self, ts: datetime) -> None:
        if self._now is not None and ts < self._now:
            raise ValueError(f"SimClock cannot go back from {self._now} to {ts}")
        self._now = ts


class LiveClock:
    """Wall time in IST."""

    def now(self) -> datetime:
        return datetime.now(IST)

    @staticmethod
    def monotonic() -> float:
        return _time.monotonic()
