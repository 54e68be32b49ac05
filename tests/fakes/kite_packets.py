"""Kite Ticker packets as Kite sends them (big-endian, prices in paise), for the fake and tests."""

from __future__ import annotations

import struct
from datetime import datetime


def ltp_packet(token: int, ltp: float) -> bytes:
    return struct.pack(">ii", token, round(ltp * 100))


def quote_packet(token: int, ltp: float, qty: int = 75, avg: float = 0.0, volume: int = 0, buy_q: int = 0,
                 sell_q: int = 0, o: float = 0.0, h: float = 0.0, lo: float = 0.0, c: float = 0.0) -> bytes:  # fmt: skip
    return struct.pack(">11i", token, *(round(x * 100) for x in (ltp,)), qty, round(avg * 100), volume, buy_q, sell_q,
                       round(o * 100), round(h * 100), round(lo * 100), round(c * 100))  # fmt: skip


def full_packet(token: int, ltp: float, bid: float, ask: float, oi: int = 0, ts: int = 0, bid_qty: int = 75,
                ask_qty: int = 75, volume: int = 0) -> bytes:  # fmt: skip
    head = quote_packet(token, ltp, volume=volume, c=ltp)
    mid = struct.pack(">5i", ts, oi, oi, oi, ts)
    depth = b"".join(struct.pack(">iihh", bid_qty if i == 0 else 0, round(bid * 100) if i == 0 else 0, 1, 0)
                     for i in range(5))  # fmt: skip
    depth += b"".join(struct.pack(">iihh", ask_qty if i == 0 else 0, round(ask * 100) if i == 0 else 0, 1, 0)
                      for i in range(5))  # fmt: skip
    return head + mid + depth


def index_packet(token: int, ltp: float, ts: int | None = None) -> bytes:
    base = struct.pack(">7i", token, round(ltp * 100), round(ltp * 100), round(ltp * 100), round(ltp * 100),
                       round(ltp * 100), 0)  # fmt: skip
    return base if ts is None else base + struct.pack(">i", ts)


def tick_frame(packets: list[bytes]) -> bytes:
    return struct.pack(">H", len(packets)) + b"".join(struct.pack(">H", len(p)) + p for p in packets)


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())
