"""Hostile frames, oversized frames, abrupt disconnects and a dying reader against the live feed
client, over a real WebSocket on 127.0.0.1 (the replay server): the client stays alive,
counts every violation by reason, keeps reconnecting and keeps watching for stale data."""

from __future__ import annotations

import json
import threading
import time

import pytest
from test_live_feed import SPEED, Collector, catalog_root, make_client, snapshots, wait_for

from optrunner.core.events import AlertEvent, ChainEvent, StaleDataEvent
from optrunner.live.feed_server import FeedServer

__all__ = ["catalog_root", "snapshots"]  # fixtures shared with test_live_feed

TS = '"2026-01-13T09:30:00+05:30"'


def chain_frame(**columns) -> str:
    cols = {"expiry": "2026-01-13", "strike": [25000], "right": ["CE"], **columns}
    return json.dumps({"v": 1, "type": "chain", "symbol": "NIFTY", "ts": "2026-01-13T15:29:00+05:30",
                       "spot": 25000.0, "columns": cols})  # fmt: skip


# (frame, the reason it is counted under)
HOSTILE = [
    ('{"v":1,"type":"tick","ts":' + TS + ',"instrument":"NIFTY","ltp":' + "[" * 50_000 + "]" * 50_000 + "}",
     "too_deep"),
    ("[" * 5_000, "too_deep"),
    ('{"v":1,"type":"tick","ts":' + TS + ',"instrument":"NIFTY","ltp":' + "9" * 5_000 + "}", "bad_number"),
    ('{"v":' + "1" * 4_400 + "}", "bad_number"),
    ('{"v":1,"type":"tick","ts":' + TS + ',"instrument":"NIFTY","ltp":1e400}', "bad_number"),
    ('{"v":1,"type":"tick","ts":' + TS + ',"instrument":"NIFTY","ltp":1' + "0" * 400 + "}", "bad_number"),
    (chain_frame(oi=[int("1" + "0" * 400)]), "bad_number"),
    (json.dumps({"v": 1, "type": "chain", "symbol": ["NIFTY"], "ts": "2026-01-13T09:30:00+05:30", "spot": 1,
                 "columns": {}}), "wrong_type"),
    (chain_frame(right=[["CE"]]), "wrong_type"),
    (json.dumps({"v": 1, "type": "heartbeat", "ts": [1]}), "wrong_type"),
    (json.dumps({"v": 1, "type": ["tick"]}), "unknown_type"),
    (json.dumps({"v": 1, "type": "tick", "ts": "2026-01-13T09:30:00+05:30", "instrument": {"a": 1}, "ltp": 1}),
     "wrong_type"),
    ('{"v":1,"type":"tick","ts":' + TS + ',"instrument":"NIFTY","ltp":NaN}', "bad_number"),
    ("not json", "bad_json"),
    (b"\x00binary", "binary"),
]  # fmt: skip
LIMIT = 200_000  # the test client's frame limit


def test_hostile_frames_are_counted_by_reason_and_the_client_keeps_trading_data(snapshots):
    server = FeedServer(snapshots, speed=SPEED, heartbeat_interval=0.1)
    server.start()
    client = make_client(server.url, max_frame_chars=LIMIT)
    client.subscribe(["NIFTY"])
    sink = Collector()
    client.start(sink)
    try:
        wait_for(lambda: len(sink.of(ChainEvent)) >= 1)
        for frame, _ in HOSTILE:
            server.broadcast_raw(frame)
        server.broadcast_raw(
            '{"v":1,"type":"heartbeat","ts":' + TS + ',"pad":"' + "x" * LIMIT + '"}'
        )
        expected: dict[str, int] = {}
        for _, reason in [*HOSTILE, (None, "oversized")]:
            expected[reason] = expected.get(reason, 0) + 1
        wait_for(lambda: client.violations() == expected)
        assert client.stats()["reconnects"] == 0 and client.connected  # the connection was kept
        chains = len(sink.of(ChainEvent))
        wait_for(lambda: len(sink.of(ChainEvent)) >= chains + 3)  # still delivering market data

        # a frame past the WebSocket layer's hard cap closes the connection: counted, reconnected
        server.broadcast_raw("x" * (5 * LIMIT))
        wait_for(
            lambda: client.violations()["oversized"] == 2 and client.stats()["reconnects"] >= 1
        )
        chains = len(sink.of(ChainEvent))
        wait_for(lambda: len(sink.of(ChainEvent)) >= chains + 2)

        # a chain whose rows are mostly garbage is not market data: dropped, counted
        server.broadcast_raw(chain_frame(bid=[0], ask=[1.0]))
        wait_for(lambda: client.quality.stale_snapshots == 1)
        assert client.quality.dropped["non_positive"] == 1

        # and the staleness watch still works after all that
        server.pause()
        wait_for(lambda: len(sink.of(StaleDataEvent)) == 1, timeout=10.0)
    finally:
        client.stop()
        server.stop()
    assert client.stats()["restarts"] == 0 and client.stats()["rejected"] == len(HOSTILE) + 2


def test_ten_abrupt_disconnects_reconnect_every_time_and_events_never_hang(snapshots):
    server = FeedServer(snapshots, speed=SPEED / 4, heartbeat_interval=0.1)
    server.start()
    client = make_client(server.url)
    seen: list = []
    done = threading.Event()

    def consume() -> None:
        for event in client.events():  # returns once stop() is called, whatever the feed does
            seen.append(event)
        done.set()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        wait_for(lambda: sum(isinstance(e, ChainEvent) for e in seen) >= 1)
        for n in range(1, 11):
            chains = sum(isinstance(e, ChainEvent) for e in seen)
            server.disconnect_all()  # no closing handshake, as a network failure
            wait_for(lambda n=n: client.stats()["reconnects"] >= n)
            wait_for(lambda c=chains: sum(isinstance(e, ChainEvent) for e in seen) > c)
        server.broadcast_raw("[" * 10_000)
        wait_for(lambda: client.stats()["rejected"] == 1)
    finally:
        server.stop()  # the feed goes away for good ...
    time.sleep(0.3)
    client.stop()  # ... and the consumer is still released
    assert done.wait(5.0)
    ts = [e.ts for e in seen if isinstance(e, ChainEvent)]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    assert client.stats()["reconnects"] >= 10 and client.stats()["restarts"] == 0


class _Bug(BaseException):
    """What no except-clause in the reader catches: stands for a bug nobody foresaw."""


def test_the_supervisor_restarts_a_dead_reader_and_raises_an_alert(snapshots, monkeypatch):
    server = FeedServer(snapshots, speed=SPEED, heartbeat_interval=0.1)
    server.start()
    client = make_client(server.url, stale_after_seconds=2.0)
    sink = Collector()
    original = client._handle
    calls = {"n": 0}

    def dies_once(frame):
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Bug("reader bug")
        return original(frame)

    monkeypatch.setattr(client, "_handle", dies_once)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the dying thread's traceback
    client.start(sink)
    try:
        wait_for(lambda: client.stats()["restarts"] == 1)
        (alert,) = sink.of(AlertEvent)
        assert alert.level == "critical" and "died" in alert.message
        chains = len(sink.of(ChainEvent))
        wait_for(lambda: len(sink.of(ChainEvent)) >= chains + 3)  # the new reader delivers
        assert client.connected
    finally:
        client.stop()
        server.stop()


def test_staleness_is_raised_while_the_reader_is_dead(snapshots, monkeypatch):
    """The watch runs in the supervisor, so a reader that cannot be restarted (here: every
    reader dies on its first frame) still ends in a StaleDataEvent, and stop() returns."""
    server = FeedServer(snapshots, speed=SPEED, heartbeat_interval=0.1)
    server.start()
    client = make_client(server.url, stale_after_seconds=0.5)

    def always_dies(frame):
        raise _Bug("reader bug")

    monkeypatch.setattr(client, "_handle", always_dies)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    sink = Collector()
    client.start(sink)
    try:
        wait_for(lambda: len(sink.of(StaleDataEvent)) == 1, timeout=10.0)
        wait_for(lambda: client.stats()["restarts"] >= 2)
    finally:
        began = time.monotonic()
        client.stop()
        server.stop()
    assert time.monotonic() - began < 5.0
    assert len(sink.of(AlertEvent)) == client.stats()["restarts"]


@pytest.mark.parametrize("frame", [frame for frame, _ in HOSTILE])
def test_the_replay_server_answers_a_hostile_request_with_an_error(snapshots, frame):
    """The server decodes client frames with the same codec: it refuses and stays up."""
    import asyncio

    from websockets.asyncio.client import connect

    server = FeedServer(snapshots, speed=SPEED, heartbeat_interval=0.1)
    server.start()

    async def talk() -> dict:
        async with connect(server.url, max_size=None) as ws:
            await ws.send(frame)
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5.0))
                if reply["type"] == "error":
                    return reply

    try:
        assert asyncio.run(talk())["code"] == "bad_request"
    finally:
        server.stop()
