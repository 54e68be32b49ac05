"""The Redis Streams bus against the real Redis: consumer groups, at-least-once delivery,
dedupe, XAUTOCLAIM of a dead consumer's entries, bounded streams and the DLQ."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from optrunner.bus import messages as m
from optrunner.bus.streams import GroupConsumer, Outcome, StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.core.events import TickEvent

TS = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)


@pytest.fixture
def bus(redis_url: str):
    b = StreamBus(connect(redis_url), Topics("paper", f"t-{uuid.uuid4().hex[:8]}"))
    yield b
    b.reset()


def tick(i: int) -> m.Tick:
    return m.Tick(TS, f"NIFTY:20260113:{25000 + i}:CE", 100.0 + i, 99.5 + i, 100.5 + i)


def test_topic_keys_are_namespaced_per_broker_and_unknown_topics_refused() -> None:
    t = Topics("kite", "prod")
    assert t.key("market.ticks") == "prod:market.ticks"
    assert t.key("signals.raw") == "prod:kite.signals.raw"
    assert t.dlq("risk") == "prod:risk.dlq"
    with pytest.raises(ValueError, match=r"unknown topic 'orders\.bogus'"):
        t.key("orders.bogus")


def test_messages_round_trip_and_unknown_versions_are_refused() -> None:
    e = TickEvent(TS, "NIFTY:20260113:25000:CE", 101.5, 101.0, 102.0, 75.0, 150.0, 1e4, 2e5)
    assert m.decode(m.encode(m.Tick.of(e))).event() == e  # type: ignore[union-attr]
    bad = m.encode(m.Tick.of(e)).replace(b"tick.1", b"tick.9")
    with pytest.raises(m.MessageError, match="undecodable"):
        m.decode(bad)


def test_chain_snapshot_survives_the_binary_encoding_exactly() -> None:
    from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot

    rng = np.random.default_rng(1)
    n = 40
    cols = {c: rng.normal(100, 10, n) for c in FLOAT_COLUMNS}
    cols["iv"][3] = np.nan
    snap = ChainSnapshot.from_columns("NIFTY", TS, 25012.5, {
        "strike": np.repeat(np.arange(24500, 25500, 50.0), 2), "is_call": np.tile([True, False], n // 2),
        "expiry": np.datetime64("2026-01-13"), **cols})  # fmt: skip
    back = m.decode(m.encode(m.Chain.of(snap))).snapshot()  # type: ignore[union-attr]
    assert (back.symbol, back.ts, back.spot) == (snap.symbol, snap.ts, snap.spot)
    for name in ("expiry", "strike", "is_call", "key", *FLOAT_COLUMNS):
        np.testing.assert_array_equal(getattr(back, name), getattr(snap, name), err_msg=name)


def test_group_members_share_the_work_and_each_entry_is_handled_once(bus: StreamBus) -> None:
    bus.publish_many("market.ticks", [tick(i) for i in range(100)])
    a = GroupConsumer(bus, ["market.ticks"], "strategies", "a")
    b = GroupConsumer(bus, ["market.ticks"], "strategies", "b")
    seen: list[str] = []
    a.run_once(lambda d: seen.append(d.msg.instrument), count=60, block_ms=None)  # type: ignore[union-attr]
    b.run_once(lambda d: seen.append(d.msg.instrument), count=60, block_ms=None)  # type: ignore[union-attr]
    assert sorted(seen) == sorted(f"NIFTY:20260113:{25000 + i}:CE" for i in range(100))
    assert a.pending() == 0
    other = GroupConsumer(bus, ["market.ticks"], "audit", "x")  # another group sees everything again
    assert len(other.poll(500, None)) == 100


def test_a_killed_consumers_entries_are_claimed_by_a_live_member(bus: StreamBus) -> None:
    bus.publish_many("signals.raw", [tick(i) for i in range(10)])
    dead = GroupConsumer(bus, ["signals.raw"], "risk", "dead", claim_idle_ms=300)
    taken = dead.poll(10, None)  # read, never acknowledged: the process died here
    assert len(taken) == 10
    live = GroupConsumer(bus, ["signals.raw"], "risk", "live", claim_idle_ms=300)
    assert live.poll(10, None) == []  # nothing new, and the dead one's entries not idle long enough yet
    time.sleep(0.35)
    live._last_claim = 0.0
    got = live.poll(10, None)
    assert [d.entry_id for d in got] == [d.entry_id for d in taken]
    assert live.handle(got, lambda d: None) == 10
    assert live.pending() == 0


def test_outputs_and_ack_commit_together_and_a_resent_message_is_deduplicated(bus: StreamBus) -> None:
    sub = m.Cancel("strategies-1", 7, TS, "c-1")
    bus.publish("signals.raw", sub)
    bus.publish("signals.raw", sub)  # the producer re-sent it after its own restart
    c = GroupConsumer(bus, ["signals.raw"], "risk", "r", dedupe=lambda msg: f"{msg.origin}:{msg.seq}")  # type: ignore[attr-defined]
    runs = []

    def handler(d):
        runs.append(d.entry_id)
        return Outcome([("signals.validated", d.msg)])

    assert c.run_once(handler, block_ms=None) == 2
    assert len(runs) == 1 and c.duplicates == 1
    assert [msg for _, msg in bus.read_all("signals.validated")] == [sub]
    assert c.pending() == 0


def test_a_poison_message_goes_to_the_dlq_after_n_failures_with_an_alert(bus: StreamBus, caplog) -> None:
    bus.client.xadd(bus.topics.key("signals.raw"), {b"m": b"\x93garbage"})
    bus.publish("signals.raw", tick(1))
    alerts: list[m.DeadLetter] = []
    c = GroupConsumer(bus, ["signals.raw"], "risk", "r", max_failures=3, on_alert=alerts.append)
    handled: list[str] = []
    for _ in range(5):
        c.run_once(lambda d: handled.append(d.msg.instrument), block_ms=None)  # type: ignore[union-attr]
    assert handled == ["NIFTY:20260113:25001:CE"]  # the good entry behind it still went through
    [(_, letter)] = bus.read_all("risk.dlq")
    assert isinstance(letter, m.DeadLetter) and letter.failures == 3 and letter.payload == b"\x93garbage"
    assert alerts == [letter]
    assert "ALERT risk: poison message" in caplog.text
    assert c.pending() == 0


def test_a_handler_that_fails_transiently_is_retried_in_order(bus: StreamBus) -> None:
    bus.publish_many("signals.raw", [tick(i) for i in range(3)])
    c = GroupConsumer(bus, ["signals.raw"], "risk", "r", max_failures=3)
    calls: list[float] = []

    def flaky(d):
        calls.append(d.msg.ltp)
        if d.msg.ltp == 101.0 and calls.count(101.0) == 1:
            raise RuntimeError("database blip")

    for _ in range(3):
        c.run_once(flaky, block_ms=None)
    assert calls == [100.0, 101.0, 101.0, 102.0]
    assert bus.read_all("risk.dlq") == []


def test_streams_are_bounded_by_approximate_maxlen(bus: StreamBus, monkeypatch) -> None:
    from optrunner.bus import topics

    monkeypatch.setitem(topics.DEFAULT_RETENTION, "market.ticks", 1000)
    bus.publish_many("market.ticks", [tick(i % 50) for i in range(5000)])
    n = bus.client.xlen(bus.topics.key("market.ticks"))
    assert 1000 <= n < 5000 // 2


@pytest.mark.parametrize(("args", "message"), [
    (["gateway", "--broker", "fyers", "--broker-state", "x.json"], "--broker 'fyers': a gateway runs one of paper, dhan, kite, shoonya"),
    (["gateway", "--broker-state", "x.json", "--redis", "redis://127.0.0.1:1/0"], "Redis at redis://127.0.0.1:1/0 does not answer"),
    (["feed", "--data", ".", "--date", "16-11-2026", "--symbol", "NIFTY"], "--date '16-11-2026' is not a date like 2026-11-16"),
])  # fmt: skip
def test_service_commands_refuse_bad_input_with_one_line(args, message, tmp_path, monkeypatch) -> None:
    from test_cli_errors import cli, one_line

    monkeypatch.chdir(tmp_path)
    result = cli("service", *args)
    assert result.exit_code == 2 and message in one_line(result)
