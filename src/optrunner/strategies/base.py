"""The strategy protocol: events in, intents out.

A strategy is a plain object. It reacts to events (a chain snapshot, a tick, a closed bar,
a fill, an order update, a timer) and returns order intents. It never calls a broker,
sleeps, reads files or looks at wall time — time comes from the events — which makes it
deterministic, replayable and testable in microseconds. Its state is a plain dict so it can
be written to the store and restored after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from optrunner.core.events import BarEvent, StaleDataEvent, TickEvent
from optrunner.core.orders import Fill, Intent, Order

if TYPE_CHECKING:
    from optrunner.data.snapshot import ChainSnapshot

Intents = Sequence[Intent]
NO_INTENTS: tuple[Intent, ...] = ()


class StrategyHalt(Exception):
    """Raised by a strategy that cannot go on safely (e.g. an exit retried past its budget):
    the runner halts it at once with a critical alert, and the kernel flattens it."""


@dataclass(slots=True)
class Subscriptions:
    """What a strategy wants delivered; the runner turns these into O(1) routing tables."""

    chains: set[str] = field(default_factory=set)  # underlyings ("NIFTY")
    ticks: set[str] = field(default_factory=set)  # instrument ids / index symbols
    bars: set[tuple[str, str]] = field(default_factory=set)  # (symbol, timeframe)
    timer: bool = False  # on_timer every poll interval


@runtime_checkable
class Strategy(Protocol):
    name: str

    def subscriptions(self) -> Subscriptions: ...
    def on_start(self, now: datetime) -> Intents: ...
    def on_chain(self, snapshot: ChainSnapshot) -> Intents: ...
    def on_tick(self, tick: TickEvent) -> Intents: ...
    def on_bar(self, bar: BarEvent) -> Intents: ...
    def on_fill(self, fill: Fill) -> Intents: ...
    def on_order_update(self, order: Order) -> Intents: ...
    def on_stale(self, event: StaleDataEvent) -> Intents: ...
    def on_timer(self, now: datetime) -> Intents: ...
    def on_stop(self, now: datetime) -> Intents: ...
    def get_state(self) -> dict[str, Any]: ...
    def restore_state(self, state: dict[str, Any]) -> None: ...


class BaseStrategy:
    """Convenience base: every handler does nothing unless overridden."""

    def __init__(self, name: str) -> None:
        self.name = name

    def subscriptions(self) -> Subscriptions:
        return Subscriptions()

    def on_start(self, now: datetime) -> Intents:
        return NO_INTENTS

    def on_chain(self, snapshot: ChainSnapshot) -> Intents:
        return NO_INTENTS

    def on_tick(self, tick: TickEvent) -> Intents:
        return NO_INTENTS

    def on_bar(self, bar: BarEvent) -> Intents:
        return NO_INTENTS

    def on_fill(self, fill: Fill) -> Intents:
        return NO_INTENTS

    def on_order_update(self, order: Order) -> Intents:
        return NO_INTENTS

    def on_stale(self, event: StaleDataEvent) -> Intents:
        return NO_INTENTS

    def on_timer(self, now: datetime) -> Intents:
        return NO_INTENTS

    def on_stop(self, now: datetime) -> Intents:
        return NO_INTENTS

    def get_state(self) -> dict[str, Any]:
        return {}

    def restore_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned; the default has nothing to restore."""
