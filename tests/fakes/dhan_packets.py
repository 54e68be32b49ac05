"""Dhan v2 Live Market Feed packets as Dhan sends them (little-endian, prices float32 rupees),
written field by field from the documented layout with ``struct`` — independent of the
adapter's NumPy parser, which the tests check against these."""

from __future__ import annotations

import struct

IDX_I, NSE_FNO, BSE_FNO = 0, 2, 8


def _head(code: int, size: int, segment: int, security_id: int) -> bytes:
    return struct.pack("<BHBI", code, size, segment, security_id)  # response code, length, segment, id


def ticker(segment: int, security_id: int, ltp: float, ltt: int = 1_760_000_000) -> bytes:
    return _head(2, 16, segment, security_id) + struct.pack("<fI", ltp, ltt)


def quote(segment: int, security_id: int, ltp: float, volume: int = 0, ltq: int = 75, ltt: int = 1_760_000_000,
          avg: float = 0.0, sell_qty: int = 0, buy_qty: int = 0, ohlc: tuple[float, float, float, float] = (0, 0, 0, 0)) -> bytes:  # fmt: skip
    body = struct.pack("<fHIfIII4f", ltp, ltq, ltt, avg, volume, sell_qty, buy_qty, *ohlc)
    return _head(4, 50, segment, security_id) + body


def oi(segment: int, security_id: int, open_interest: int) -> bytes:
    return _head(5, 12, segment, security_id) + struct.pack("<I", open_interest)


def prev_close(segment: int, security_id: int, close: float, prev_oi: int = 0) -> bytes:
    return _head(6, 16, segment, security_id) + struct.pack("<fI", close, prev_oi)


def full(segment: int, security_id: int, ltp: float, bid: float, ask: float, bid_qty: int = 75, ask_qty: int = 75,
         oi: int = 0, volume: int = 0, ltt: int = 1_760_000_000) -> bytes:  # fmt: skip
    """A full packet: the quote's fields, OI (and day high/low), OHLC, then 5 depth levels of
    (bid qty, ask qty, bid orders, ask orders, bid price, ask price); the best level first,
    deeper levels a tick worse each."""
    body = struct.pack("<fHIfIII", ltp, 75, ltt, ltp, volume, 10 * ask_qty, 10 * bid_qty)
    body += struct.pack("<III4f", oi, oi, oi, ltp, ltp, ltp, ltp)
    for lvl in range(5):
        body += struct.pack("<IIHHff", bid_qty if bid_qty else 0, ask_qty if ask_qty else 0, 1, 1,
                            bid - 0.05 * lvl if bid_qty else 0.0, ask + 0.05 * lvl if ask_qty else 0.0)  # fmt: skip
    return _head(8, 162, segment, security_id) + body


def disconnect(reason: int) -> bytes:
    return _head(50, 10, 0, 0) + struct.pack("<H", reason)


def market_status() -> bytes:
    return _head(7, 8, 0, 0)
