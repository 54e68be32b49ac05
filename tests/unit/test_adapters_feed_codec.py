"""The feed protocol's wire format: round trips and every kind of malformed frame."""

from __future__ import annotations

import json
import re
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optrunner.core.events import ChainEvent, TickEvent
from optrunner.core.timeutil import IST
from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot
from optrunner.market.adapters.feed_codec import (
    FeedError,
    FeedProtocolError,
    Heartbeat,
    SubscriptionRequest,
    decode_client_message,
    decode_server_message,
    encode_chain,
    encode_error,
    encode_heartbeat,
    encode_subscription,
    encode_tick,
)

T0 = datetime(2026, 1, 13, 9, 15, tzinfo=IST)
CE = "NIFTY:20260113:25000:CE"


def two_expiry_chain() -> ChainSnapshot:
    return ChainSnapshot.from_columns(
        "NIFTY", T0, 25012.35,
        {"strike": [25000.0, 25000.0, 25050.0, 25000.0], "right": ["CE", "PE", "CE", "CE"],
         "expiry": np.array(["2026-01-13", "2026-01-13", "2026-01-13", "2026-01-20"], dtype="datetime64[D]"),
         "ltp": [120.05, 110.0, np.nan, 210.5], "bid": [120.0, 109.95, 0.0, 210.0], "delta": [0.52, -0.48, 0.4, 0.55],
         "theta": [-12.5, -11.0, -10.0, -8.0], "oi": [1.5e6, 2.0e6, 10.0, 3.0e5]},
    )  # fmt: skip


def test_a_chain_round_trips_exactly_with_missing_values_as_null():
    original = two_expiry_chain()
    frame = encode_chain(original)
    assert "NaN" not in frame and json.loads(frame)["columns"]["ltp"][2] is None
    event = decode_server_message(frame)
    assert isinstance(event, ChainEvent)
    got = event.snapshot
    assert (got.symbol, got.ts, got.spot) == ("NIFTY", T0, 25012.35)
    np.testing.assert_array_equal(got.key, original.key)
    np.testing.assert_array_equal(got.expiry, original.expiry)
    for name in FLOAT_COLUMNS:
        np.testing.assert_array_equal(getattr(got, name), getattr(original, name), err_msg=name)


def test_a_tick_round_trips():
    tick = TickEvent(T0, CE, 120.05, bid=120.0, ask=120.1, oi=1.5e6)
    got = decode_server_message(encode_tick(tick))
    assert (
        got.ts == tick.ts
        and got.instrument == CE
        and (got.ltp, got.bid, got.ask, got.oi) == (120.05, 120.0, 120.1, 1.5e6)
    )
    assert np.isnan(got.volume)


def test_heartbeat_error_and_subscriptions_round_trip():
    assert decode_server_message(encode_heartbeat(T0)) == Heartbeat(T0)
    assert decode_server_message(encode_error("bad_request", "x" * 500)) == FeedError(
        "bad_request", "x" * 200
    )
    req = decode_client_message(encode_subscription("subscribe", ["nifty"], [CE]))
    assert req == SubscriptionRequest("subscribe", ("NIFTY",), (CE,))
    assert (
        decode_client_message(encode_subscription("unsubscribe", (), [CE])).action == "unsubscribe"
    )


def tick_frame(**changes) -> str:
    msg = {"v": 1, "type": "tick", "ts": T0.isoformat(), "instrument": CE, "ltp": 120.0}
    msg.update(changes)
    return json.dumps({k: v for k, v in msg.items() if v is not ...})


def chain_frame(**column_changes) -> str:
    msg = json.loads(encode_chain(two_expiry_chain()))
    msg["columns"].update(column_changes)
    return json.dumps({**msg, "columns": {k: v for k, v in msg["columns"].items() if v is not ...}})


BAD_SERVER_FRAMES = {
    "not json": ("tick 120", "bad JSON"),
    "json array": ("[1, 2]", "JSON object"),
    "binary": (b'{"v":1}', "binary frame"),
    "no version": (json.dumps({"type": "heartbeat", "ts": T0.isoformat()}), "version None"),
    "future version": (tick_frame(v=2), "version 2"),
    "unknown type": (json.dumps({"v": 1, "type": "quote"}), "unknown message type 'quote'"),
    "NaN literal": (tick_frame().replace("120.0", "NaN"), "NaN is not JSON"),
    "Infinity literal": (tick_frame().replace("120.0", "Infinity"), "Infinity is not JSON"),
    "null price": (tick_frame(ltp=None), "tick.ltp"),
    "zero price": (tick_frame(ltp=0), "positive price"),
    "negative price": (tick_frame(ltp=-5.0), "positive price"),
    "string price": (tick_frame(ltp="120.0"), "tick.ltp"),
    "bool price": (tick_frame(ltp=True), "tick.ltp"),
    "negative bid": (tick_frame(bid=-1.0), "tick.bid"),
    "missing instrument": (tick_frame(instrument=...), "no 'instrument'"),
    "bad instrument": (tick_frame(instrument="NIFTY:2026-01-13:25000:CE"), "canonical option id"),
    "naive ts": (tick_frame(ts="2026-01-13T09:15:00"), "no UTC offset"),
    "bad ts": (tick_frame(ts="yesterday"), "not an ISO 8601"),
    "missing ts": (tick_frame(ts=...), "no 'ts'"),
    "chain missing strike": (chain_frame(strike=...), "'strike'"),
    "chain short column": (chain_frame(ltp=[1.0, 2.0]), "'ltp' must be a list of 4"),
    "chain negative bid": (chain_frame(bid=[1.0, -2.0, 3.0, 4.0]), "'bid' holds a negative"),
    "chain strike null": (
        chain_frame(strike=[25000.0, None, 25050.0, 25000.0]),
        "'strike' must hold positive",
    ),
    "chain bad right": (chain_frame(right=["CE", "PE", "C", "CE"]), "each CE or PE"),
    "chain bad expiry": (chain_frame(expiry="13-Jan-2026"), "'expiry'"),
    "chain unknown column": (chain_frame(gamma2=[0, 0, 0, 0]), "gamma2"),
    "chain string numbers": (chain_frame(ltp=["1", "2", "3", "4"]), "other than numbers"),
    "chain duplicate contract": (
        chain_frame(strike=[25000.0] * 4, right=["CE", "PE", "CE", "PE"], expiry="2026-01-13"),
        "twice",
    ),
    "chain zero spot": (json.dumps({**json.loads(chain_frame()), "spot": 0}), "chain.spot"),
}


@pytest.mark.parametrize(
    ("frame", "reason"), BAD_SERVER_FRAMES.values(), ids=BAD_SERVER_FRAMES.keys()
)
def test_malformed_server_frames_are_refused_with_their_reason(frame, reason):
    with pytest.raises(FeedProtocolError, match=re.escape(reason)):
        decode_server_message(frame)


@pytest.mark.parametrize(
    "frame",
    [
        json.dumps({"v": 1, "type": "subscribe", "symbols": "NIFTY"}),
        json.dumps({"v": 1, "type": "subscribe", "instruments": ["NIFTY:x"]}),
        json.dumps({"v": 1, "type": "subscribe", "symbols": [""]}),
        json.dumps({"v": 1, "type": "chain"}),
        json.dumps({"type": "subscribe", "symbols": ["NIFTY"]}),
    ],
)
def test_malformed_client_frames_are_refused(frame):
    with pytest.raises(FeedProtocolError):
        decode_client_message(frame)


# --- hostile values anywhere: only FeedProtocolError, with a reason ----------------------------

hostile_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=5)
    | st.integers(min_value=-(10**500), max_value=10**500) | st.sampled_from([10**400, -(10**400)]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(["chain", "tick", "heartbeat", "error"]),
    path=st.sampled_from(["v", "type", "ts", "symbol", "spot", "instrument", "ltp", "bid", "columns",
                          "columns.strike", "columns.right", "columns.expiry", "columns.bid", "columns.oi",
                          "code", "message"]),
    value=hostile_values,
)  # fmt: skip
def test_any_value_anywhere_raises_only_a_protocol_error_with_a_reason(kind, path, value):
    if kind == "chain":
        message = json.loads(encode_chain(two_expiry_chain()))
    elif kind == "tick":
        message = json.loads(
            encode_tick(TickEvent(T0, CE, 120.05, 120.0, 120.1, 650, 1300, 1e5, 1e6))
        )
    else:
        message = {"v": 1, "type": kind, "ts": T0.isoformat(), "code": "x", "message": "y"}
    target = message
    *parents, leaf = path.split(".")
    for key in parents:
        target = target.setdefault(key, {}) if isinstance(target.get(key), dict) else {}
    target[leaf] = value
    frame = json.dumps(message, allow_nan=True)
    for decode in (decode_server_message, decode_client_message):
        try:
            decode(frame)
        except FeedProtocolError as exc:
            assert exc.reason and len(str(exc)) <= 300


@pytest.mark.parametrize(
    ("frame", "reason"),
    [("[" * 2_000 + "]" * 2_000, "too_deep"), ('{"v": ' + "7" * 4_301 + "}", "bad_number"),
     ('{"v":1,"type":"tick","ts":"2026-01-13T09:15:00+05:30","instrument":"NIFTY","ltp":1' + "0" * 400 + "}",
      "bad_number"),
     ('{"v":1,"type":"error","pad":"' + "x" * 100 + '"}', None)],
)  # fmt: skip
def test_size_and_depth_are_checked_before_parsing(frame, reason):
    if reason is None:
        with pytest.raises(FeedProtocolError) as info:
            decode_server_message(frame, max_chars=50)
        assert info.value.reason == "oversized"
        return
    with pytest.raises(FeedProtocolError) as info:
        decode_server_message(frame)
    assert info.value.reason == reason
