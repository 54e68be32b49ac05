"""Dhan Live Market Feed packets (built field by field in ``fakes.dhan_packets``) through the
NumPy parser: each response code, a message of mixed packets, and malformed input rejected and
counted — never raised."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fakes import dhan_packets as P
from optrunner.execution.brokers.dhan.marketfeed import BATCH, requests
from optrunner.execution.brokers.dhan.ticks import SIZES, parse_frame, split_token, token


def one(frame: bytes) -> dict[str, float]:
    parsed = parse_frame(frame)
    assert parsed.bad == 0 and len(parsed.ticks) == 1
    t = parsed.ticks
    return {f: getattr(t, f)[0] for f in ("token", "ltp", "volume", "oi", "bid", "ask", "bid_qty", "ask_qty", "ts",
                                          "is_index")}  # fmt: skip


def test_documented_packet_sizes() -> None:
    assert SIZES == {2: 16, 4: 50, 5: 12, 6: 16, 7: 8, 8: 162, 50: 10}
    assert [len(p) for p in (P.ticker(0, 13, 1.0), P.quote(2, 1, 1.0), P.oi(2, 1, 5), P.prev_close(2, 1, 1.0),
                             P.market_status(), P.full(2, 1, 1.0, 1.0, 1.0), P.disconnect(805))] == \
        [16, 50, 12, 16, 8, 162, 10]  # fmt: skip


def test_ticker_of_an_index() -> None:
    t = one(P.ticker(P.IDX_I, 13, 25010.05, ltt=1_760_000_123))
    assert t["token"] == 13 and t["is_index"]
    assert t["ltp"] == 25010.05  # float32 25010.05078 rounded back to paise
    assert t["ts"] == 1_760_000_123
    assert all(math.isnan(t[f]) for f in ("bid", "ask", "oi", "volume"))


def test_quote_carries_ltp_and_volume_not_depth() -> None:
    t = one(P.quote(P.NSE_FNO, 35001, 101.35, volume=123450, buy_qty=900, sell_qty=1200))
    assert t["token"] == (2 << 32 | 35001) and not t["is_index"]
    assert (t["ltp"], t["volume"]) == (101.35, 123450.0)
    assert math.isnan(t["bid"]) and math.isnan(t["ask"])


def test_oi_packet_only_oi() -> None:
    t = one(P.oi(P.NSE_FNO, 35001, 4_567_800))
    assert t["oi"] == 4_567_800.0 and math.isnan(t["ltp"])


def test_full_packet_best_bid_ask_from_depth() -> None:
    t = one(P.full(P.NSE_FNO, 35002, 99.95, bid=99.9, ask=100.05, bid_qty=750, ask_qty=600, oi=321000, volume=5000))
    assert (t["ltp"], t["bid"], t["ask"], t["bid_qty"], t["ask_qty"]) == (99.95, 99.9, 100.05, 750.0, 600.0)
    assert (t["oi"], t["volume"]) == (321000.0, 5000.0)
    empty = one(P.full(P.BSE_FNO, 7, 5.0, bid=0.0, ask=5.1, bid_qty=0, ask_qty=20))
    assert empty["token"] == (8 << 32 | 7)
    assert math.isnan(empty["bid"]) and empty["ask"] == 5.1  # an empty side has no price


def test_prev_close_status_and_disconnect_carry_no_quote() -> None:
    p = parse_frame(P.prev_close(P.NSE_FNO, 1, 98.0) + P.market_status() + P.disconnect(805))
    assert (len(p.ticks), p.bad, p.packets, p.disconnects) == (0, 0, 3, (805,))


def test_a_message_of_mixed_packets() -> None:
    frame = (P.ticker(P.IDX_I, 13, 25000.0) + P.full(P.NSE_FNO, 1, 10.0, 9.95, 10.05) + P.oi(P.NSE_FNO, 2, 77)
             + P.quote(P.NSE_FNO, 3, 30.5) + P.full(P.NSE_FNO, 4, 40.0, 39.9, 40.1) + P.prev_close(P.IDX_I, 13, 1.0))  # fmt: skip
    p = parse_frame(frame)
    assert (p.bad, p.packets, len(p.ticks)) == (0, 6, 5)
    by = {int(k) & 0xFFFFFFFF: i for i, k in enumerate(p.ticks.token)}
    assert p.ticks.ltp[by[13]] == 25000.0 and p.ticks.is_index[by[13]]
    assert (p.ticks.bid[by[1]], p.ticks.ask[by[4]]) == (9.95, 40.1)
    assert p.ticks.oi[by[2]] == 77 and p.ticks.ltp[by[3]] == 30.5


def test_many_full_packets_in_one_message() -> None:
    frame = b"".join(P.full(P.NSE_FNO, 1000 + i, 100.0 + i, 99.0 + i, 101.0 + i) for i in range(200))
    p = parse_frame(frame)
    assert (p.bad, len(p.ticks)) == (0, 200)
    np.testing.assert_array_equal(p.ticks.token & 0xFFFFFFFF, np.arange(1000, 1200))
    np.testing.assert_allclose(p.ticks.ask - p.ticks.bid, 2.0)


@pytest.mark.parametrize("cut", [1, 7, 15, 100, 161])
def test_a_truncated_packet_is_counted_and_the_rest_kept(cut: int) -> None:
    good = P.ticker(P.IDX_I, 13, 25000.0)
    p = parse_frame(good + P.full(P.NSE_FNO, 1, 10.0, 9.9, 10.1)[:cut])
    assert (p.bad, len(p.ticks), p.ticks.ltp[0]) == (1, 1, 25000.0)
    assert parse_frame(P.full(P.NSE_FNO, 1, 10.0, 9.9, 10.1)[:cut]).bad == 1


def test_unknown_kinds_are_skipped_by_their_length_or_end_the_message() -> None:
    unknown = bytes([99]) + (12).to_bytes(2, "little") + bytes(9)
    p = parse_frame(unknown + P.ticker(P.IDX_I, 25, 52000.0))
    assert (p.bad, len(p.ticks), int(p.ticks.token[0])) == (1, 1, 25)
    garbage = bytes([99, 0, 0]) + bytes(20)  # a length that cannot be: nothing after it is trusted
    assert (parse_frame(P.ticker(P.IDX_I, 13, 1.0) + garbage).bad, parse_frame(garbage).bad) == (1, 1)
    assert parse_frame(b"").packets == 0


def test_subscription_messages_batch_and_split_modes() -> None:
    tokens = {token("IDX_I", 13)} | {token("NSE_FNO", 40000 + i) for i in range(250)}
    msgs = requests(tokens)
    assert [(m["RequestCode"], m["InstrumentCount"]) for m in msgs] == [(15, 1), (21, 100), (21, 100), (21, 50)]
    assert msgs[0]["InstrumentList"] == [{"ExchangeSegment": "IDX_I", "SecurityId": "13"}]
    assert msgs[1]["InstrumentList"][0] == {"ExchangeSegment": "NSE_FNO", "SecurityId": "40000"}
    assert all(len(m["InstrumentList"]) <= BATCH for m in msgs)
    assert [m["RequestCode"] for m in requests(tokens, subscribe=False)] == [16, 22, 22, 22]
    assert split_token(token("BSE_FNO", 812345)) == ("BSE_FNO", "812345")


@pytest.mark.parametrize("packet", [P.ticker(P.IDX_I, 25, 52000.35), P.full(P.NSE_FNO, 35001, 99.95, 99.9, 100.0, oi=7),
                                    P.full(P.BSE_FNO, 9, 5.05, 0.0, 5.1, bid_qty=0, ask_qty=20, volume=3)])  # fmt: skip
def test_one_packet_fast_path_equals_the_numpy_path(packet: bytes) -> None:
    single, double = parse_frame(packet).ticks, parse_frame(packet + packet).ticks  # struct vs structured view
    for f in ("token", "ltp", "volume", "oi", "bid", "ask", "bid_qty", "ask_qty", "ts", "is_index"):
        a, b = getattr(single, f), getattr(double, f)
        assert a.dtype == b.dtype and len(a) == 1, f
        np.testing.assert_array_equal(a, b[:1], err_msg=f)
