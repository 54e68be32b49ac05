"""Composition: processors, the validator, the position-aware executor, the registry."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest

from optrunner.core.events import FillEvent, OrderUpdateEvent, TickEvent
from optrunner.core.orders import Fill, Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType, Side, Tag
from optrunner.instruments.contracts import OptionContract
from optrunner.runner import StrategyRunner
from optrunner.strategies.base import StrategyHalt
from optrunner.strategies.composition import (
    ExecutorConfig,
    StrategyExecutor,
    position_moves,
)
from optrunner.strategies.low_frequency_demo import LowFrequencyDemoProcessor
from optrunner.strategies.momentum import MomentumProcessor
from optrunner.strategies.registry import (
    UnknownStrategyType,
    create_strategy,
    register_strategy,
    registered_strategies,
)
from optrunner.strategies.signals import (
    Signal,
    SignalType,
    StandardValidator,
    normalise_confidence,
)

T0 = datetime(2026, 1, 13, 9, 15, tzinfo=IST)
CE = "NIFTY:20260113:25000:CE"
PE = "NIFTY:20260113:25000:PE"
NIFTY_LOT_JAN_2026 = 65  # NSE/FAOP/70616: 65 for contracts expiring Jan 2026 onward


def ticks(prices, instrument=CE, step=60):
    return [
        TickEvent(T0 + timedelta(seconds=step * i), instrument, p) for i, p in enumerate(prices)
    ]


def momentum_executor(**config) -> StrategyExecutor:
    cfg = ExecutorConfig(
        name="MOM", strategy="momentum", instruments=(CE,),
        parameters={"lookback": 3, "threshold": 0.02, "lots": 2}, **config,
    )  # fmt: skip
    strategy = create_strategy(cfg)
    assert isinstance(strategy, StrategyExecutor)
    return strategy


def feed(executor, prices, instrument=CE):
    return [list(executor.on_tick(t)) for t in ticks(prices, instrument)]


def flat(executor, prices, instrument=CE):
    return [i for batch in feed(executor, prices, instrument) for i in batch]


def fill_for(intent, price=100.0, qty=None) -> Fill:
    return Fill(
        "f",
        "c",
        intent.strategy,
        intent.tag,
        intent.contract,
        intent.side,
        qty or intent.quantity,
        price,
        T0,
    )


# --- processors -------------------------------------------------------------------------------


def test_momentum_compares_now_with_the_oldest_of_the_last_lookback_ticks():
    p = MomentumProcessor("S", lookback=3, threshold=0.02, lots=1)
    hist = ticks([100.0, 101.0, 102.5])
    signal = p.process_tick(hist[-1], hist)
    # m = (102.5 - 100) / 100 = 0.025 > 0.02; confidence = 0.025 / (2 * 0.02)
    assert signal.signal_type is SignalType.BUY and signal.metadata["momentum"] == pytest.approx(
        0.025
    )
    assert signal.confidence == pytest.approx(0.625) and signal.quantity == NIFTY_LOT_JAN_2026
    assert signal.price == 102.5 and signal.ts == hist[-1].ts and signal.strategy_id == "S"
    assert p.process_tick(hist[1], hist[:2]) is None  # not enough history
    flat = ticks([100.0, 103.0, 101.5])
    assert p.process_tick(flat[-1], flat) is None  # 1.5 % < 2 %
    down = ticks([100.0, 99.0, 97.0])
    sell = p.process_tick(down[-1], down)
    assert sell.signal_type is SignalType.SELL and sell.confidence == pytest.approx(0.75)


def test_low_frequency_demo_signals_at_most_once_per_interval_per_instrument():
    p = LowFrequencyDemoProcessor("D", min_interval_seconds=900, side="alternate")
    out = []
    for i in range(31):  # a tick a minute for 30 minutes, on two instruments
        for inst in (CE, PE):
            t = TickEvent(T0 + timedelta(minutes=i), inst, 100.0)
            s = p.process_tick(t, [t])
            if s is not None:
                out.append((inst, i, s.signal_type))
    assert out == [
        (CE, 0, SignalType.BUY), (PE, 0, SignalType.BUY),
        (CE, 15, SignalType.SELL), (PE, 15, SignalType.SELL),
        (CE, 30, SignalType.BUY), (PE, 30, SignalType.BUY),
    ]  # fmt: skip
    restored = LowFrequencyDemoProcessor("D", min_interval_seconds=900)
    restored.restore_state(p.get_state())
    t = TickEvent(T0 + timedelta(minutes=40), CE, 100.0)
    assert restored.process_tick(t, [t]) is None  # remembers the 09:45 signal across a restart


# --- validator ----------------------------------------------------------------------------------


def signal(**changes) -> Signal:
    base = dict(strategy_id="S", instrument=CE, signal_type=SignalType.BUY, quantity=65, price=100.0,
                confidence=0.9, ts=T0)  # fmt: skip
    base.update(changes)
    return Signal(**base)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"confidence": 90.0}, "confidence 90.0"),
        ({"confidence": -0.1}, "confidence -0.1"),
        ({"confidence": math.nan}, "confidence nan"),
        ({"quantity": 0}, "quantity 0"),
        ({"quantity": 1.5}, "quantity 1.5"),
        ({"quantity": 200}, "exceeds the 130-unit cap"),
        ({"price": math.nan}, "signal price nan"),
        ({"price": 0.0}, "signal price 0.0"),
        ({"signal_type": "BUY!"}, "signal_type 'BUY!'"),
        ({"instrument": PE}, "but the tick is for"),
    ],
)
def test_validator_rejects_each_malformed_signal(changes, problem):
    problems = StandardValidator(max_quantity=130).validate_signal(
        signal(**changes), ticks([100.0])[0]
    )
    assert len(problems) == 1 and problem in problems[0]


def test_validator_accepts_a_good_signal_and_checks_the_tick_price():
    v = StandardValidator()
    assert v.validate_signal(signal(confidence=1.0), ticks([100.0])[0]) == []
    assert v.validate_signal(signal(confidence=0.0), ticks([100.0])[0]) == []
    assert "tick price" in v.validate_signal(signal(), ticks([math.nan])[0])[0]


def test_confidence_is_normalised_to_a_fraction():
    assert normalise_confidence(0.6) == 0.6 and normalise_confidence(1) == 1.0
    assert normalise_confidence(90) == pytest.approx(0.9)
    for bad in (150, -1, math.nan):
        with pytest.raises(ValueError):
            normalise_confidence(bad)


# --- the position-aware executor ----------------------------------------------------------------


def test_position_moves_reduce_first_then_open():
    assert position_moves(0, 130) == [(Tag.ENTRY, 130)]
    assert position_moves(130, 130) == []
    assert position_moves(130, 0) == [(Tag.EXIT, -130)]
    assert position_moves(130, 65) == [(Tag.EXIT, -65)]
    assert position_moves(65, 130) == [(Tag.ENTRY, 65)]
    assert position_moves(130, -130) == [(Tag.EXIT, -130), (Tag.ENTRY, -130)]
    assert position_moves(-65, 130) == [(Tag.EXIT, 65), (Tag.ENTRY, 130)]


def test_a_rule_that_stays_true_opens_once_not_on_every_tick():
    ex = momentum_executor()
    out = feed(ex, [100, 101, 103, 105, 108, 111, 115])  # momentum > 2 % from the 3rd tick on
    intents = [i for batch in out for i in batch]
    assert len(intents) == 1
    buy = intents[0]
    assert (buy.tag, buy.side, buy.quantity, buy.strategy) == (
        Tag.ENTRY,
        Side.BUY,
        2 * NIFTY_LOT_JAN_2026,
        "MOM",
    )
    assert buy.contract == OptionContract("NIFTY", date(2026, 1, 13), 25000, "CE")
    assert buy.order_type is OrderType.MARKET and buy.limit_price is None
    assert ex.signals_unchanged == 4  # later BUY signals changed nothing
    ex.on_fill(fill_for(buy))
    assert ex.context.positions == {CE: 130} and ex.context.pending == {CE: 0}
    assert feed(ex, [116, 118, 121]) == [[], [], []]


def test_a_sell_signal_exits_to_flat_and_only_once():
    ex = momentum_executor()
    buy = flat(ex, [100, 101, 103])[0]
    ex.on_fill(fill_for(buy))
    out = flat(ex, [100, 98, 95, 92])
    assert [(i.tag, i.side, i.quantity) for i in out] == [(Tag.EXIT, Side.SELL, 130)]


def test_shorting_when_allowed_flips_with_an_exit_then_an_entry():
    ex = momentum_executor(allow_short=True, order_type=OrderType.LIMIT)
    buy = flat(ex, [100, 101, 103])[0]
    ex.on_fill(fill_for(buy))
    out = flat(ex, [100, 98, 95])
    assert [(i.tag, i.side, i.quantity) for i in out] == [
        (Tag.EXIT, Side.SELL, 130),
        (Tag.ENTRY, Side.SELL, 130),
    ]
    # history 103, 100, 98: m = -4.9 % at the tick of 98, which is the limit price
    assert out[0].order_type is OrderType.LIMIT and out[0].limit_price == 98


def test_a_rejected_order_frees_the_target_for_the_next_signal():
    ex = momentum_executor()
    buy = flat(ex, [100, 101, 103])[0]
    assert feed(ex, [106]) == [[]]  # the order is still working
    refused_at = T0 + timedelta(minutes=3)
    order = Order("c1", "MOM", Tag.ENTRY, buy.contract, Side.BUY, 130, state=OrderState.REJECTED,
                  updated_ts=refused_at)  # fmt: skip
    ex.on_order_update(order)
    assert ex.context.pending == {CE: 0}
    # not re-sent on the very next tick: 2 s later is inside the 5 s backoff
    assert list(ex.on_tick(TickEvent(refused_at + timedelta(seconds=2), CE, 110.0))) == []
    assert ex.signals_deferred == 1
    again = list(ex.on_tick(TickEvent(refused_at + timedelta(seconds=60), CE, 111.0)))
    assert [(i.side, i.quantity) for i in again] == [(Side.BUY, 130)]


def test_refused_exits_back_off_doubling_then_halt_the_strategy():
    ex = momentum_executor()
    buy = flat(ex, [100, 101, 103])[0]
    ex.on_fill(fill_for(buy))
    t = T0 + timedelta(minutes=10)
    delays = []
    for n in range(1, 6):  # max_retries 5: five refusals back off 5, 10, 20, 40, 80 s
        ex.on_order_update(Order(f"x{n}", "MOM", Tag.EXIT, buy.contract, Side.SELL, 130,
                                 state=OrderState.REJECTED, updated_ts=t))  # fmt: skip
        delays.append((ex.context.refusals[CE][1] - t).total_seconds())
    assert delays == [5, 10, 20, 40, 80]
    with pytest.raises(StrategyHalt, match="refused 6 times"):
        ex.on_order_update(Order("x6", "MOM", Tag.EXIT, buy.contract, Side.SELL, 130,
                                 state=OrderState.REJECTED, updated_ts=t))  # fmt: skip


def test_a_partial_fill_then_cancel_leaves_only_the_filled_part():
    ex = momentum_executor()
    buy = flat(ex, [100, 101, 103])[0]
    ex.on_fill(fill_for(buy, qty=65))
    ex.on_order_update(
        Order(
            "c1",
            "MOM",
            Tag.ENTRY,
            buy.contract,
            Side.BUY,
            130,
            state=OrderState.CANCELLED,
            filled_qty=65,
        )
    )
    assert ex.context.positions == {CE: 65} and ex.context.pending == {CE: 0}
    top_up = flat(ex, [110])
    assert [(i.tag, i.side, i.quantity) for i in top_up] == [(Tag.ENTRY, Side.BUY, 65)]


def test_executor_state_survives_a_restart():
    ex = momentum_executor()
    buy = flat(ex, [100, 101, 103])[0]
    ex.on_fill(fill_for(buy))
    fresh = momentum_executor()
    fresh.restore_state(ex.get_state())
    assert fresh.context.positions == {CE: 130}
    # the restored executor knows it is long: a continuing rise asks for nothing more
    assert flat(fresh, [104, 106, 109]) == []


def test_a_disabled_executor_or_an_unsubscribed_instrument_does_nothing():
    off = momentum_executor(enabled=False)
    assert all(batch == [] for batch in feed(off, [100, 101, 103, 106]))
    ex = momentum_executor()
    assert all(batch == [] for batch in feed(ex, [100, 101, 103, 106], instrument=PE))
    assert not ex.can_process_tick(ticks([100.0], PE)[0])


def test_executors_in_the_runner_get_their_ticks_and_their_fills():
    runner = StrategyRunner()
    a, b = (
        momentum_executor(),
        create_strategy(ExecutorConfig(name="OTHER", strategy="momentum", instruments=(PE,))),
    )
    runner.register("MOM", a)
    runner.register("OTHER", b)
    results = [runner.dispatch(t) for t in ticks([100, 101, 103])]
    ((name, intents),) = results[-1]
    assert name == "MOM"
    runner.dispatch(FillEvent(fill_for(intents[0])))
    assert a.context.positions == {CE: 130} and b.context.positions == {}
    runner.dispatch(
        OrderUpdateEvent(Order("c", "OTHER", Tag.ENTRY, intents[0].contract, Side.BUY, 1), T0)
    )
    assert runner.get_metrics()["strategies"]["OTHER"]["total_ticks"] == 1


# --- config and registry ------------------------------------------------------------------------


def test_executor_config_and_parameters_are_checked_up_front():
    with pytest.raises(ValueError, match="canonical option id"):
        ExecutorConfig(name="X", strategy="momentum", instruments=("NIFTY 25000 CE",))
    with pytest.raises(ValueError, match="use MARKET or LIMIT"):
        ExecutorConfig(name="X", strategy="momentum", instruments=(CE,), order_type=OrderType.SL)
    with pytest.raises(ValueError) as info:
        create_strategy(ExecutorConfig(name="X", strategy="momentum", instruments=(CE,),
                                       parameters={"lookbak": 5, "threshold": -1}))  # fmt: skip
    message = str(info.value)  # every problem at once
    assert "parameters.lookbak: unknown parameter (known: lookback, threshold, lots)" in message
    assert "parameters.threshold: Input should be greater than 0" in message


def test_registry_knows_the_builtins_and_refuses_unknown_or_duplicate_types():
    assert {"dnss", "momentum", "low_frequency_demo", "ml_momentum"} <= set(registered_strategies())
    with pytest.raises(UnknownStrategyType, match="did you mean 'momentum'"):
        create_strategy(ExecutorConfig(name="X", strategy="momentun", instruments=(CE,)))
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("momentum")(lambda cfg: None)
    with pytest.raises(TypeError, match="needs an ExecutorConfig"):
        from optrunner.strategies.momentum import create_momentum_strategy

        create_momentum_strategy(object())
