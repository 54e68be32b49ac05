"""Composition: a signal processor + a validator, run by a ``StrategyExecutor`` (itself a Strategy).

A processor turns a tick and that instrument's recent ticks into a ``Signal``; the validator
vets it; the executor decides what order, if any, the signal calls for. Processors can be
rules (momentum), schedules (the low-frequency demo) or a model (ML momentum) and share
everything else.

The executor is **position-aware**. The old runner turned every BUY/SELL into an order, so
a momentum rule that stayed true emitted a signal on every tick and flooded the broker. Here
a signal sets a *target* net position for its instrument (BUY -> +quantity, SELL -> flat, or
-quantity when shorting is allowed); the context knows the net position from fills plus what
is already on its way, and only the difference becomes an order. A signal that would not
change the target is dropped.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from optrunner.config.base import ConfigModel, one_of
from optrunner.config.kinds import COMPOSITION_KINDS, OptionIds
from optrunner.config.operations import BROKER_ALIASES, BROKERS
from optrunner.core.events import TickEvent
from optrunner.core.orders import Fill, Order, OrderIntent
from optrunner.core.types import OrderState, OrderType, Product, Side, Tag
from optrunner.instruments import get_index
from optrunner.instruments.contracts import OptionContract
from optrunner.strategies.base import (
    NO_INTENTS,
    BaseStrategy,
    Intents,
    StrategyHalt,
    Subscriptions,
)
from optrunner.strategies.signals import Signal, SignalType, SignalValidator, StandardValidator

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)


class SignalProcessor(Protocol):
    name: str

    def get_required_history_length(self) -> int:
        """How many ticks (the current one included) ``process_tick`` needs to see."""
        ...

    def supports_instrument(self, instrument: str) -> bool: ...

    def process_tick(self, tick: TickEvent, history: Sequence[TickEvent]) -> Signal | None:
        """A signal for ``tick.instrument`` or None. ``history[-1]`` is ``tick``."""
        ...


class ExecutorConfig(ConfigModel):
    """A composition strategy: which processor (``strategy``), on which options, with what limits."""

    name: str = Field(min_length=1, description="Unique strategy name; fills are routed by it.")
    strategy: str = Field(min_length=1, description="Registered processor type, e.g. momentum.")
    instruments: OptionIds = Field(
        description="Canonical option ids traded, e.g. NIFTY:20260113:25000:CE."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The processor's parameters."
    )
    enabled: bool = True
    allow_short: bool = Field(
        False, description="false: a SELL signal exits to flat; true: it goes short."
    )
    max_position_size: int | None = Field(None, ge=1, description="Largest signal, in units.")
    order_type: OrderType = Field(
        OrderType.MARKET, description="MARKET, or LIMIT at the signal's price."
    )
    product: Product = Product.NRML
    broker: Annotated[str, one_of(BROKERS, aliases=BROKER_ALIASES)] = Field(
        "paper", description="Which broker's gateway trades it as a service (a seed 004 row: zerodha_trading_enabled -> kite)."
    )
    retry_backoff_seconds: float = Field(
        5.0, gt=0, description="After a refused order, no new one for that option for this long (doubling)."
    )
    max_retries: int = Field(
        5, ge=1, description="Refused exits in a row before the strategy halts (entries only back off)."
    )

    @field_validator("order_type")
    @classmethod
    def _market_or_limit(cls, value: OrderType) -> OrderType:
        if value not in (OrderType.MARKET, OrderType.LIMIT):
            raise ValueError(
                f"{value} is not supported by composition strategies — use MARKET or LIMIT"
            )
        return value


def parse_parameters(model: type[P], config: ExecutorConfig) -> P:
    """``config.parameters`` as ``model``; every problem reported at once, naming the strategy."""
    try:
        return model.model_validate(config.parameters)
    except ValidationError as exc:
        known = ", ".join(model.model_fields)
        problems = "; ".join(
            f"parameters.{'.'.join(map(str, e['loc']))}: "
            + (
                f"unknown parameter (known: {known})"
                if e["type"] == "extra_forbidden"
                else e["msg"]
            )
            for e in exc.errors()
        )
        raise ValueError(f"strategy {config.name!r} ({config.strategy}): {problems}") from None


def units_for(instrument: str, lots: int) -> int:
    """``lots`` of ``instrument`` in units, with the lot size in force for its expiry."""
    contract = OptionContract.from_id(instrument)
    return lots * get_index(contract.underlying).lot_size(contract.expiry)


@dataclass(slots=True)
class ExecutionContext:
    """What the executor knows about its own book: net position from fills, and orders in flight.

    ``pending`` is signed units sent but neither filled nor finished yet. Counting it is what
    stops a second order for the same target while the first is still working.
    """

    broker: str = "paper"
    market_session: str = "regular"
    positions: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # refused in a row, until

    def effective(self, instrument: str) -> int:
        return self.positions.get(instrument, 0) + self.pending.get(instrument, 0)

    def order_sent(self, instrument: str, signed_qty: int) -> None:
        self.pending[instrument] = self.pending.get(instrument, 0) + signed_qty

    def apply_fill(self, fill: Fill) -> None:
        instrument = fill.contract.id
        self.refusals.pop(instrument, None)
        qty = fill.signed_quantity
        self.positions[instrument] = self.positions.get(instrument, 0) + qty
        self._release(instrument, qty)

    def apply_order_update(self, order: Order) -> None:
        """A finished order's unfilled rest (rejected, cancelled, expired) is no longer on its way."""
        if order.is_done and order.remaining > 0:
            self._release(order.contract.id, order.side.sign * order.remaining)

    def _release(self, instrument: str, signed_qty: int) -> None:
        p = self.pending.get(instrument, 0)
        if p and (p > 0) == (signed_qty > 0):  # only shrink, never flip, what is in flight
            p -= signed_qty if abs(signed_qty) <= abs(p) else p
            self.pending[instrument] = p


def position_moves(current: int, target: int) -> list[tuple[Tag, int]]:
    """Signed order quantities taking ``current`` to ``target``: reduce first (EXIT), then open (ENTRY)."""
    moves: list[tuple[Tag, int]] = []
    if current and (target * current <= 0 or abs(target) < abs(current)):
        close_to = target if target * current > 0 else 0
        moves.append((Tag.EXIT, close_to - current))
        current = close_to
    if target != current:
        moves.append((Tag.ENTRY, target - current))
    return moves


class StrategyExecutor(BaseStrategy):
    """Runs one processor over its instruments' ticks and turns accepted signals into intents."""

    def __init__(
        self,
        processor: SignalProcessor,
        validator: SignalValidator,
        config: ExecutorConfig,
        context: ExecutionContext | None = None,
    ) -> None:
        super().__init__(config.name)
        self.processor = processor
        self.validator = validator
        self.config = config
        self.context = context if context is not None else ExecutionContext()
        self._contracts = {i: OptionContract.from_id(i) for i in config.instruments}
        self._history_len = max(1, int(processor.get_required_history_length()))
        self._history: dict[str, deque[TickEvent]] = {}
        self.signals_rejected = 0
        self.signals_unchanged = 0
        self.signals_deferred = 0  # refused recently: backing off

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(ticks=set(self.config.instruments))

    def can_process_tick(self, tick: TickEvent) -> bool:
        return (
            self.config.enabled
            and tick.instrument in self._contracts
            and self.processor.supports_instrument(tick.instrument)
        )

    def on_tick(self, tick: TickEvent) -> Intents:
        if not self.can_process_tick(tick):
            return NO_INTENTS
        history = self._history.get(tick.instrument)
        if history is None:
            history = self._history[tick.instrument] = deque(maxlen=self._history_len)
        history.append(tick)
        signal = self.processor.process_tick(tick, history)
        if signal is None or signal.signal_type is SignalType.HOLD:
            return NO_INTENTS
        problems = self.validator.validate_signal(signal, tick)
        if problems:
            self.signals_rejected += 1
            log.info("%s: signal rejected at %s: %s", self.name, tick.ts, "; ".join(problems))
            return NO_INTENTS
        return self._intents_for(signal)

    def _target(self, signal: Signal) -> int:
        if signal.signal_type is SignalType.BUY:
            return signal.quantity
        return -signal.quantity if self.config.allow_short else 0

    def _intents_for(self, signal: Signal) -> Intents:
        instrument = signal.instrument
        moves = position_moves(self.context.effective(instrument), self._target(signal))
        if not moves:
            self.signals_unchanged += 1
            return NO_INTENTS
        refused = self.context.refusals.get(instrument)
        if refused is not None and signal.ts < refused[1]:
            self.signals_deferred += 1
            return NO_INTENTS
        limit = signal.price if self.config.order_type is OrderType.LIMIT else None
        reason = f"{self.processor.name} {signal.signal_type} confidence={signal.confidence:.2f}"
        intents = []
        for tag, qty in moves:
            self.context.order_sent(instrument, qty)
            intents.append(
                OrderIntent(
                    strategy=self.name,
                    tag=tag,
                    contract=self._contracts[instrument],
                    side=Side.BUY if qty > 0 else Side.SELL,
                    quantity=abs(qty),
                    order_type=self.config.order_type,
                    limit_price=limit,
                    product=self.config.product,
                    reason=reason,
                )
            )
        return intents

    def on_fill(self, fill: Fill) -> Intents:
        self.context.apply_fill(fill)
        return NO_INTENTS

    def on_order_update(self, order: Order) -> Intents:
        self.context.apply_order_update(order)
        if order.state is OrderState.REJECTED:
            self._back_off(order)
        return NO_INTENTS

    def _back_off(self, order: Order) -> None:
        """A refused order is not re-sent on the next tick: its option waits a doubling backoff
        (at most 5 minutes). Refused exits past ``max_retries`` in a row halt the strategy —
        a position it cannot close needs a person; refused entries only wait."""
        instrument = order.contract.id
        count = self.context.refusals[instrument][0] + 1 if instrument in self.context.refusals else 1
        if order.tag is Tag.EXIT and count > self.config.max_retries:
            raise StrategyHalt(f"exit of {instrument} refused {count} times in a row: {order.reason}")
        delay = min(self.config.retry_backoff_seconds * 2 ** (count - 1), 300.0)
        ts = order.updated_ts or order.created_ts
        until = ts + timedelta(seconds=delay) if ts is not None else datetime.min.replace(tzinfo=UTC)
        self.context.refusals[instrument] = (count, until)

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "positions": dict(self.context.positions),
            "pending": dict(self.context.pending),
            "refusals": {k: [n, ts.isoformat()] for k, (n, ts) in self.context.refusals.items()},
        }
        get_processor_state = getattr(self.processor, "get_state", None)
        if get_processor_state is not None:
            state["processor"] = get_processor_state()
        return state

    def restore_state(self, state: dict[str, Any]) -> None:
        self.context.positions = {k: int(v) for k, v in state.get("positions", {}).items()}
        self.context.pending = {k: int(v) for k, v in state.get("pending", {}).items()}
        self.context.refusals = {
            k: (int(n), datetime.fromisoformat(ts)) for k, (n, ts) in state.get("refusals", {}).items()
        }
        restore = getattr(self.processor, "restore_state", None)
        if restore is not None and "processor" in state:
            restore(state["processor"])


def executor_config(config: Any) -> ExecutorConfig:
    """``config`` as an ExecutorConfig: as given, or from a strategy file's kind section
    (``"momentum": {...}``) and its ``execution`` order type and product."""
    if isinstance(config, ExecutorConfig):
        return config
    kind = getattr(config, "strategy", None)
    section = getattr(config, kind, None) if kind in COMPOSITION_KINDS else None
    if section is None:
        raise TypeError(
            f"strategy type {kind!r} is a composition strategy: it needs an ExecutorConfig or a "
            f"strategy file with a {kind!r} section, got {type(config).__name__}"
        )
    _, params_model = COMPOSITION_KINDS[kind]
    execution = config.execution
    return ExecutorConfig(
        name=config.name, strategy=kind, instruments=section.instruments,
        parameters=section.model_dump(include=set(params_model.model_fields)),
        enabled=config.enabled, allow_short=section.allow_short,
        max_position_size=section.max_position_size,
        order_type=execution.order_type, product=execution.product,
        retry_backoff_seconds=execution.retry_backoff_seconds, max_retries=execution.max_retries,
    )  # fmt: skip


def build_executor(
    config: Any, make_processor: Callable[[ExecutorConfig], SignalProcessor]
) -> StrategyExecutor:
    """The standard wiring of a registered composition type: its processor, the standard validator."""
    config = executor_config(config)
    return StrategyExecutor(
        make_processor(config),
        StandardValidator(config.max_position_size),
        config,
        ExecutionContext(),
    )
