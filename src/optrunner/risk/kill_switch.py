"""The kill switch: ACTIVE -> REDUCING (exits only) -> HALTED (nothing; flatten requested).

Set by an operator (API / CLI), by an environment variable at start, or automatically by
the account limits. Every change is recorded with who, why and when, and announced to
listeners (alerts, the kernel's flattener, the dashboard).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"  # exits only
    HALTED = "HALTED"  # no strategy orders at all; open positions are to be flattened


ENV_FLAGS = ("OPTRUNNER_DISABLE_TRADING", "DISABLE_TRADING_SUPERVISOR")
_TRUE = {"1", "true", "yes", "on"}


def env_disable_reason(environ: dict[str, str] | None = None) -> str | None:
    """``"NAME=value"`` of the first trading-disable variable set true, else None."""
    env = os.environ if environ is None else environ
    for name in ENV_FLAGS:
        if env.get(name, "").strip().lower() in _TRUE:
            return f"{name}={env[name]}"
    return None


@dataclass(frozen=True, slots=True)
class SwitchChange:
    ts: datetime | None
    old: TradingState
    new: TradingState
    source: str  # "api", "env", "account_risk", ...
    reason: str


class KillSwitch:
    def __init__(self, state: TradingState = TradingState.ACTIVE) -> None:
        self.state = state
        self.history: list[SwitchChange] = []
        self._listeners: list[Callable[[SwitchChange], None]] = []

    def apply_env(
        self, environ: dict[str, str] | None = None, ts: datetime | None = None
    ) -> str | None:
        """The environment's kill switch (seed 001's fastest emergency stop), read at start and
        at each reload: OPTRUNNER_DISABLE_TRADING or DISABLE_TRADING_SUPERVISOR true -> REDUCING
        (no new entries or adjustments; exits still run). Unset again -> ACTIVE, but only when
        the environment is what put the switch there. Returns the reason while it holds."""
        reason = env_disable_reason(environ)
        if reason is not None:
            self.escalate(TradingState.REDUCING, source="env", reason=reason, ts=ts)
        elif (
            self.state is TradingState.REDUCING
            and self.history
            and self.history[-1].source == "env"
        ):
            self.set(
                TradingState.ACTIVE,
                source="env",
                reason="trading re-enabled in the environment",
                ts=ts,
            )
        return reason

    @property
    def reason(self) -> str:
        """Why the switch is where it is (empty while ACTIVE)."""
        return (
            self.history[-1].reason
            if self.history and self.state is not TradingState.ACTIVE
            else ""
        )

    def on_change(self, listener: Callable[[SwitchChange], None]) -> None:
        self._listeners.append(listener)

    def set(
        self, state: TradingState, *, source: str, reason: str, ts: datetime | None = None
    ) -> bool:
        """Move to ``state``; returns False when already there. Listeners run after the change."""
        state = TradingState(state)
        if state is self.state:
            return False
        change = SwitchChange(ts, self.state, state, source, reason)
        self.state = state
        self.history.append(change)
        for listener in self._listeners:
            listener(change)
        return True

    def escalate(
        self, state: TradingState, *, source: str, reason: str, ts: datetime | None = None
    ) -> bool:
        """Like ``set`` but never relaxes: automatic limits may tighten, only an operator loosens."""
        order = [TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED]
        if order.index(TradingState(state)) <= order.index(self.state):
            return False
        return self.set(state, source=source, reason=reason, ts=ts)

    @property
    def allows_entries(self) -> bool:
        return self.state is TradingState.ACTIVE

    @property
    def allows_exits(self) -> bool:
        return self.state is not TradingState.HALTED

    def to_state(self) -> dict:
        return {"state": self.state.value}

    def restore(self, d: dict) -> None:
        self.state = TradingState(d["state"])
