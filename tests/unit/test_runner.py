"""StrategyRunner: routing, metrics, isolation/halting, lifecycle, bots, state."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from optrunner.core.events import (
    AlertEvent,
    BarEvent,
    ChainEvent,
    FillEvent,
    OrderUpdateEvent,
    StaleDataEvent,
    TickEvent,
    TimerEvent,
)
from optrunner.core.orders import Fill, Order, OrderIntent
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract
from optrunner.runner import StrategyRunner
from optrunner.strategies.base import BaseStrategy, Subscriptions

T0 = datetime(2026, 1, 13, 9, 15, tzinfo=IST)
OPT = OptionContract("NIFTY", date(2026, 1, 13), 25000, "CE")


def chain(symbol: str = "NIFTY", ts: datetime = T0) -> ChainSnapshot:
    return ChainSnapshot.from_columns(
        symbol, ts, 25010.0,
        {"strike": [25000.0, 25000.0], "right": ["CE", "PE"], "expiry": np.datetime64("2026-01-13"),
         "ltp": [120.0, 110.0]},
    )  # fmt: skip


def intent(strategy: str) -> OrderIntent:
    return OrderIntent(strategy, Tag.ENTRY, OPT, Side.SELL, 65)


def fill(strategy: str) -> Fill:
    return Fill("f1", "c1", strategy, Tag.ENTRY, OPT, Side.SELL, 65, 120.0, T0)


class Recorder(BaseStrategy):
    """Records every call; returns one intent per tick/chain when ``trade`` is set."""

    def __init__(self, name: str, subs: Subscriptions, trade: bool = False) -> None:
        super().__init__(name)
        self.subs = subs
        self.trade = trade
        self.calls: list[tuple[str, object]] = []
        self.state: dict = {"n": 0}

    def subscriptions(self) -> Subscriptions:
        return self.subs

    def _record(self, kind: str, arg: object):
        self.calls.append((kind, arg))
        self.state["n"] += 1
        return [intent(self.name)] if self.trade and kind in ("chain", "tick") else ()

    def on_chain(self, snapshot):
        return self._record("chain", snapshot)

    def on_tick(self, tick):
        return self._record("tick", tick)

    def on_bar(self, bar):
        return self._record("bar", bar)

    def on_fill(self, f):
        return self._record("fill", f)

    def on_order_update(self, order):
        return self._record("order", order)

    def on_stale(self, event):
        return self._record("stale", event)

    def on_timer(self, now):
        return self._record("timer", now)

    def on_start(self, now):
        return self._record("start", now)

    def on_stop(self, now):
        return self._record("stop", now)

    def get_state(self):
        return dict(self.state)

    def restore_state(self, state):
        self.state = dict(state)

    def kinds(self) -> list[str]:
        return [k for k, _ in self.calls]


class Exploding(Recorder):
    def __init__(self, name: str, subs: Subscriptions, fail: bool = True) -> None:
        super().__init__(name, subs)
        self.fail = fail

    def on_tick(self, tick):
        self.calls.append(("tick", tick))
        if self.fail:
            raise RuntimeError("boom")
        return ()


class RecordingBot:
    def __init__(self) -> None:
        self.received: list[tuple[str, list]] = []

    def process_intents(self, strategy_name, intents):
        self.received.append((strategy_name, list(intents)))


def tick(instrument: str = OPT.id, ts: datetime = T0, ltp: float = 120.0) -> TickEvent:
    return TickEvent(ts, instrument, ltp)


@pytest.fixture
def runner_abc():
    runner = StrategyRunner()
    a = Recorder("A", Subscriptions(chains={"NIFTY"}))
    b = Recorder("B", Subscriptions(ticks={OPT.id}))
    c = Recorder("C", Subscriptions(bars={("BANKNIFTY", "1h")}, timer=True))
    for s in (a, b, c):
        runner.register(s.name, s)
    return runner, a, b, c


def test_each_event_reaches_only_the_strategies_subscribed_to_its_key(runner_abc):
    runner, a, b, c = runner_abc
    runner.dispatch(ChainEvent(chain("NIFTY")))
    runner.dispatch(ChainEvent(chain("BANKNIFTY")))
    runner.dispatch(tick(OPT.id))
    runner.dispatch(tick("NIFTY:20260113:25100:CE"))
    bar = BarEvent("BANKNIFTY", "1h", T0, T0 + timedelta(hours=1), 1, 2, 0.5, 1.5)
    runner.dispatch(bar)
    runner.dispatch(BarEvent("BANKNIFTY", "4h", T0, T0 + timedelta(hours=4), 1, 2, 0.5, 1.5))
    runner.dispatch(TimerEvent(T0))
    assert a.kinds() == ["chain"] and a.calls[0][1].symbol == "NIFTY"
    assert b.kinds() == ["tick"] and b.calls[0][1].instrument == OPT.id
    assert c.kinds() == ["bar", "timer"] and c.calls[0][1] is bar
    assert runner.events_unrouted == 3  # BANKNIFTY chain, the other option, the 4h bar


def test_fills_and_order_updates_route_by_strategy_name(runner_abc):
    runner, a, b, c = runner_abc
    runner.dispatch(FillEvent(fill("B")))
    order = Order("c1", "C", Tag.ENTRY, OPT, Side.SELL, 65, state=OrderState.REJECTED)
    runner.dispatch(OrderUpdateEvent(order, T0))
    runner.dispatch(FillEvent(fill("nobody")))
    assert a.kinds() == [] and b.kinds() == ["fill"] and c.kinds() == ["order"]


def test_stale_data_reaches_every_strategy_following_that_underlying(runner_abc):
    runner, a, b, c = runner_abc
    runner.dispatch(StaleDataEvent(T0, "NIFTY", 300.0))
    assert a.kinds() == ["stale"] and b.kinds() == ["stale"] and c.kinds() == []
    runner.dispatch(StaleDataEvent(T0, "BANKNIFTY", 300.0))
    assert c.kinds() == ["stale"]


def test_intents_are_returned_and_sent_to_the_bot():
    bot = RecordingBot()
    runner = StrategyRunner(bot=bot)
    runner.register("A", Recorder("A", Subscriptions(chains={"NIFTY"}), trade=True))
    runner.register("B", Recorder("B", Subscriptions(chains={"NIFTY"}), trade=False))
    out = runner.dispatch(ChainEvent(chain()))
    assert [(name, len(i)) for name, i in out] == [("A", 1)]
    assert bot.received == [("A", [out[0][1][0]])]


def test_a_seed_style_bot_gets_strategy_and_market_too():
    calls = []

    class SeedBot:
        def _process_strategy_intents(self, strategy_name, strategy, market, intents):
            calls.append((strategy_name, strategy, market, list(intents)))

    class Market:
        symbol = "NIFTY"

    runner = StrategyRunner(bot=SeedBot())
    strategy = Recorder("A", Subscriptions(chains={"NIFTY"}), trade=True)
    market = Market()
    runner.register("A", strategy, market=market)
    runner.dispatch(ChainEvent(chain()))
    assert len(calls) == 1
    name, s, m, intents = calls[0]
    assert (name, s, m) == ("A", strategy, market) and intents[0].strategy == "A"


def test_a_bot_without_an_intent_method_is_refused():
    with pytest.raises(TypeError, match="process_intents"):
        StrategyRunner(bot=object())


def test_metrics_count_events_commands_and_errors_and_print_the_seed_table(capsys):
    runner = StrategyRunner()
    runner.register("NIFTY_DNSS", Recorder("NIFTY_DNSS", Subscriptions(ticks={OPT.id}), trade=True))
    runner.register("FLAKY", Exploding("FLAKY", Subscriptions(ticks={OPT.id})))
    for i in range(3):
        runner.dispatch(tick(ts=T0 + timedelta(minutes=i)))
    m = runner.get_metrics()
    good, bad = m["strategies"]["NIFTY_DNSS"], m["strategies"]["FLAKY"]
    assert (good["total_ticks"], good["total_commands"], good["total_errors"]) == (3, 3, 0)
    assert (bad["total_ticks"], bad["total_commands"], bad["total_errors"]) == (0, 0, 3)
    assert (
        m["global"]["total_ticks"] == 3
        and m["global"]["total_commands"] == 3
        and m["global"]["total_errors"] == 3
    )
    assert 0 < good["avg_ms"] <= good["max_ms"] and good["mean_ms"] <= good["max_ms"]
    assert bad["last_error"] == "RuntimeError: boom"
    runner.print_metrics()
    lines = capsys.readouterr().out.splitlines()
    assert "Global | ticks=3 | commands=3 | errors=3" in lines
    row = next(line for line in lines if line.startswith("NIFTY_DNSS"))
    assert re.fullmatch(
        r"NIFTY_DNSS {10}\| ticks=   3 \| cmds=    3 \| errs=  0 \| avg= +\d+\.\dms", row
    )


def test_ema_of_handler_time_follows_the_seed_alpha(monkeypatch):
    # The runner's clock is replaced by one only the handler moves: a real sleep(0) on a busy
    # 2-core machine can take milliseconds, which tested the scheduler rather than the EMA.
    clock = {"ns": 0}
    monkeypatch.setattr(time, "perf_counter_ns", lambda: clock["ns"])
    durations = iter([20_000_000, 0, 0])

    class Sleeper(Recorder):
        def on_tick(self, t):
            clock["ns"] += next(durations)
            return ()

    runner = StrategyRunner()
    runner.register("S", Sleeper("S", Subscriptions(ticks={OPT.id})))
    runner.dispatch(tick())
    first = runner.get_metrics()["strategies"]["S"]["avg_ms"]
    runner.dispatch(tick())
    second = runner.get_metrics()["strategies"]["S"]["avg_ms"]
    # EMA from 0 with alpha 0.1: 2 ms after a 20 ms call, then 0.9 of that after a 0 ms call
    assert first == pytest.approx(2.0)
    assert second == pytest.approx(1.8)


def test_a_failing_strategy_is_isolated_then_halted_with_one_alert_after_n_errors(caplog):
    runner = StrategyRunner(max_consecutive_errors=5)
    good = Recorder("GOOD", Subscriptions(ticks={OPT.id}))
    bad = Exploding("BAD", Subscriptions(ticks={OPT.id}))
    runner.register("GOOD", good)
    runner.register("BAD", bad)
    alerts: list[AlertEvent] = []
    runner.on_alert(alerts.append)
    with caplog.at_level(logging.ERROR):
        for i in range(8):
            runner.dispatch(tick(ts=T0 + timedelta(seconds=i)))
    assert len(good.calls) == 8  # never disturbed
    assert len(bad.calls) == 5  # nothing after the halt
    assert runner.get_status()["halted"] == ["BAD"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert (
        alert.level == "critical"
        and alert.source == "strategy:BAD"
        and "5 consecutive errors" in alert.message
    )
    assert alert.ts == T0 + timedelta(seconds=4)  # the failing event's time
    logged = [
        r
        for r in caplog.records
        if r.name == "optrunner.strategy.BAD" and r.levelno == logging.ERROR
    ]
    assert "on TickEvent at 2026-01-13 09:15:00+05:30" in logged[0].getMessage()
    runner.resume("BAD")
    bad.fail = False
    runner.dispatch(tick())
    assert len(bad.calls) == 6 and runner.get_status()["halted"] == []


def test_a_success_resets_the_consecutive_error_count():
    runner = StrategyRunner(max_consecutive_errors=3)
    bad = Exploding("BAD", Subscriptions(ticks={OPT.id}))
    runner.register("BAD", bad)
    for fail in (True, True, False, True, True):
        bad.fail = fail
        runner.dispatch(tick())
    m = runner.get_metrics()["strategies"]["BAD"]
    assert m["total_errors"] == 4 and m["consecutive_errors"] == 2 and not m["halted"]


def test_slow_handlers_are_logged(caplog):
    class Slow(Recorder):
        def on_tick(self, t):
            time.sleep(0.03)
            return ()

    runner = StrategyRunner(slow_handler_ms=10)
    runner.register("SLOW", Slow("SLOW", Subscriptions(ticks={OPT.id})))
    runner.register("FAST", Recorder("FAST", Subscriptions(ticks={OPT.id})))
    with caplog.at_level(logging.WARNING):
        runner.dispatch(tick())
    slow = [r.getMessage() for r in caplog.records if "slow handler" in r.getMessage()]
    assert len(slow) == 1 and slow[0].startswith("SLOW: slow handler: TickEvent")
    assert runner.get_metrics()["strategies"]["SLOW"]["slow_handlers"] == 1


def test_start_and_stop_are_idempotent_join_the_thread_and_fire_timers():
    runner = StrategyRunner(poll_interval=0.05)
    timed = Recorder("T", Subscriptions(timer=True))
    untimed = Recorder("U", Subscriptions(chains={"NIFTY"}))
    runner.register("T", timed)
    runner.register("U", untimed)
    runner.start()
    thread = runner._thread
    runner.start()
    assert runner._thread is thread and runner.get_status()["running"]
    runner.submit(ChainEvent(chain()))  # from this (another) thread
    time.sleep(0.3)
    runner.stop()
    runner.stop()
    assert not thread.is_alive() and not runner.get_status()["running"]
    assert timed.kinds()[0] == "start" and timed.kinds()[-1] == "stop"
    assert 4 <= timed.kinds().count("timer") <= 8  # 0.3 s / 0.05 s, on a busy machine
    assert untimed.kinds() == ["start", "chain", "stop"]


def test_timers_follow_each_strategy_interval_on_the_event_clock():
    class Monitoring:
        poll_interval_seconds = 60.0
        alert_enabled = False

    class Cfg:
        monitoring = Monitoring()

    runner = StrategyRunner(poll_interval=2.0)
    fast = Recorder("FAST", Subscriptions(timer=True, chains={"NIFTY"}))
    slow = Recorder("SLOW", Subscriptions(timer=True))
    runner.register("FAST", fast)
    runner.register("SLOW", slow, config=Cfg())
    events = [ChainEvent(chain(ts=T0 + timedelta(seconds=s))) for s in range(0, 181, 1)]
    assert runner.run(events) == 181
    assert fast.kinds().count("timer") == 91  # every 2 s of event time over 180 s
    assert [t for k, t in slow.calls if k == "timer"] == [
        T0 + timedelta(seconds=s) for s in (0, 60, 120, 180)
    ]


def test_states_round_trip_and_a_strategy_that_cannot_restore_is_halted():
    runner = StrategyRunner()
    a = Recorder("A", Subscriptions(ticks={OPT.id}))
    runner.register("A", a)
    runner.dispatch(tick())
    saved = runner.states()
    assert saved == {"A": {"n": 1}}

    class Broken(Recorder):
        def restore_state(self, state):
            raise KeyError("legs")

    runner2 = StrategyRunner()
    a2, broken = (
        Recorder("A", Subscriptions(ticks={OPT.id})),
        Broken("B", Subscriptions(ticks={OPT.id})),
    )
    runner2.register("A", a2)
    runner2.register("B", broken)
    alerts = []
    runner2.on_alert(alerts.append)
    runner2.restore_states({"A": saved["A"], "B": {"x": 1}, "GONE": {}})
    assert a2.state == {"n": 1}
    assert runner2.get_status()["halted"] == ["B"] and "state restore failed" in alerts[0].message
    runner2.dispatch(tick())
    assert broken.calls == []


def test_register_refuses_non_strategies_duplicates_and_name_mismatch():
    runner = StrategyRunner()
    with pytest.raises(TypeError, match=r"lacks .*on_chain"):
        runner.register("X", object())
    with pytest.raises(TypeError, match="None"):
        runner.register("X", None)
    runner.register("A", Recorder("A", Subscriptions()))
    with pytest.raises(ValueError, match="already registered"):
        runner.register("A", Recorder("A", Subscriptions()))
    with pytest.raises(ValueError, match="calls itself 'B'"):
        runner.register("C", Recorder("B", Subscriptions()))
    with pytest.raises(ValueError, match="upper case"):
        runner.register("D", Recorder("D", Subscriptions(chains={"nifty"})))


def test_one_source_per_symbol_and_shared_adapters():
    class Market:
        def __init__(self, key):
            self.source_key = key
            self.symbol = "NIFTY"
            self.subscribed: list[str] = []

        def subscribe(self, instruments):
            self.subscribed.extend(instruments)

    runner = StrategyRunner()
    m1, m1_again, m2 = Market(("db", "a")), Market(("db", "a")), Market(("db", "b"))
    runner.register("A", Recorder("A", Subscriptions(ticks={OPT.id, "BANKNIFTY"})), market=m1)
    runner.register("B", Recorder("B", Subscriptions(ticks={"NIFTY"})), market=m1_again)
    assert sorted(m1.subscribed) == sorted([OPT.id, "NIFTY"]) and m1_again.subscribed == []
    with pytest.raises(ValueError, match="one source"):
        runner.register("C", Recorder("C", Subscriptions()), market=m2)
    assert runner.get_status()["total_strategies"] == 2


def test_halt_alerts_are_posted_to_the_strategy_webhook():
    received: list[dict] = []
    got = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()
            got.set()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    class Monitoring:
        poll_interval_seconds = 2.0
        alert_enabled = True
        alert_webhook = f"http://127.0.0.1:{server.server_port}/alerts"

    class Cfg:
        monitoring = Monitoring()

    try:
        runner = StrategyRunner(max_consecutive_errors=2)
        runner.register("BAD", Exploding("BAD", Subscriptions(ticks={OPT.id})), config=Cfg())
        runner.dispatch(tick())
        runner.dispatch(tick())
        assert got.wait(5.0)
    finally:
        server.shutdown()
    assert received[0]["source"] == "strategy:BAD" and received[0]["level"] == "critical"
    assert received[0]["ts"] == T0.isoformat()


def test_a_strategy_log_file_receives_its_errors(tmp_path):
    class Monitoring:
        poll_interval_seconds = 2.0
        alert_enabled = False
        log_enabled = True
        log_file = tmp_path / "logs" / "bad.log"

    class Cfg:
        monitoring = Monitoring()

    runner = StrategyRunner()
    runner.register("BAD", Exploding("BAD", Subscriptions(ticks={OPT.id})), config=Cfg())
    runner.register("OTHER", Exploding("OTHER", Subscriptions(ticks={OPT.id})))
    runner.dispatch(tick())
    runner.unregister("BAD")  # closes the file
    text = (tmp_path / "logs" / "bad.log").read_text()
    assert "BAD failed on TickEvent" in text and "RuntimeError: boom" in text
    assert "OTHER" not in text
