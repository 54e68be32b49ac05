"""Connects a live broker's alerts and halts to a kernel.

* an alert becomes a kernel alert (source ``broker:<name>``: journaled, on the dashboard);
* a halt of one strategy (an answer about its order did not parse) goes to the safety desk;
* a halt of everything (the session expired) moves the kill switch to REDUCING — exits only,
  no new entries — and a restored session moves it back to ACTIVE, unless someone else
  changed it meanwhile (an operator's HALTED is never undone by a re-login).

Hooks run in the kernel's thread: :class:`~.adapter.LiveBroker` delivers them from
``events()``, which only the order manager calls.
"""

from __future__ import annotations

from typing import Any

from optrunner.risk.kill_switch import TradingState


def attach_kernel(broker: Any, kernel: Any) -> None:
    source = f"broker:{broker.name}"

    def alert(level: str, message: str) -> None:
        kernel._alert(kernel.now(), level, source, message)

    def halt(strategy: str | None, reason: str) -> None:
        if strategy:
            kernel.safety.halt(strategy, reason)
            return
        switch = kernel.risk.kill_switch
        if switch.state is TradingState.ACTIVE:
            switch.set(TradingState.REDUCING, source=source, reason=reason, ts=kernel.now())

    def resume() -> None:
        switch = kernel.risk.kill_switch
        last = switch.history[-1] if switch.history else None
        if switch.state is TradingState.REDUCING and last is not None and last.source == source:
            switch.set(TradingState.ACTIVE, source=source, reason=f"{broker.name} session restored", ts=kernel.now())

    broker.on_alert, broker.on_halt, broker.on_resume = alert, halt, resume


__all__ = ["attach_kernel"]
