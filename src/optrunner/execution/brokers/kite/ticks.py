"""Kite Ticker binary frames, parsed with NumPy (the documented layout, no SDK).

Why our own parser: the SDK's ``KiteTicker`` runs on Twisted/Autobahn with its own reactor,
which can be started once per process and owns signal handling — a poor fit for our process
model (one asyncio feed thread next to the kernel thread, restartable, testable against a
fake). The layout is small and documented (https://kite.trade/docs/connect/v3/websocket/):

* a frame: int16 packet count, then per packet int16 length + the packet (big-endian);
  a 1-byte frame is a heartbeat;
* tradable packets: 8 bytes (LTP mode: token, ltp), 44 bytes (quote: + last qty, average
  price, volume, total buy/sell qty, open, high, low, close), 184 bytes (full: + last trade
  time, OI, OI day high/low, exchange timestamp, then 10 depth entries of 12 bytes
  — qty int32, price int32, orders int16, 2 padding — 5 bids then 5 asks);
* index packets: 28 bytes (token, ltp, high, low, open, close, change) and 32 (+ exchange
  timestamp);
* prices are paise (divide by 100); currency segments use 10^7 (CDS) and 10^4 (BCD), told by
  the token's low byte (the segment; NCO 10^4 too).

Packets of one length are gathered into a 2-D int32 view and converted column-wise, so a
frame of N packets costs a few NumPy calls, not N Python loops of ``struct.unpack``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

SEG_CDS, SEG_BCD, SEG_INDICES, SEG_NCO = 3, 6, 9, 12
_BE_I4 = np.dtype(">i4")
_U16 = struct.Struct(">H").unpack_from
_FIELDS = ("token", "ltp", "volume", "oi", "bid", "ask", "bid_qty", "ask_qty", "ts", "is_index")


@dataclass(slots=True)
class Ticks:
    """One frame's packets as columns (NaN / 0 where the packet's mode lacks the field)."""

    token: np.ndarray  # int64
    ltp: np.ndarray
    volume: np.ndarray
    oi: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    ts: np.ndarray  # exchange timestamp, epoch seconds (0 when absent)
    is_index: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.token)


def _empty() -> Ticks:
    f = np.empty(0)
    return Ticks(np.empty(0, np.int64), f, f, f, f, f, f, f, np.empty(0, np.int64), np.empty(0, bool))


class TickParseError(ValueError):
    pass


def _divisor(tokens: np.ndarray) -> np.ndarray:
    seg = tokens & 0xFF
    return np.where(seg == SEG_CDS, 1e7, np.where((seg == SEG_BCD) | (seg == SEG_NCO), 1e4, 100.0))


# the int32 words each packet length needs: token, ltp, volume, ts (index), oi, ts, best bid/ask qty+price
_WORDS = {8: (0, 1), 28: (0, 1), 32: (0, 1, 7), 44: (0, 1, 4), 184: (0, 1, 4, 12, 15, 16, 17, 31, 32)}
_BYTES = {k: (4 * np.asarray(w))[:, None] + np.arange(4) for k, w in _WORDS.items()}


def _group(buf: np.ndarray, offsets: np.ndarray, length: int) -> dict[int, np.ndarray]:
    """Word number -> int64 column over ``offsets``'s packets (only the words we read are gathered)."""
    rows = buf[offsets[:, None, None] + _BYTES[length]]  # (m, words, 4) bytes
    a = np.ascontiguousarray(rows).view(_BE_I4)[:, :, 0].astype(np.int64)
    return {w: a[:, i] for i, w in enumerate(_WORDS[length])}


def parse_frame(frame: bytes) -> Ticks:
    """Every packet of a binary frame; a heartbeat (1 byte) gives no ticks."""
    if len(frame) < 2:
        return _empty()
    (n,) = struct.unpack_from(">H", frame, 0)
    if n == 0:
        return _empty()
    # fast path: every packet the same length (one mode, one kind) — offsets are arithmetic
    (first,) = struct.unpack_from(">H", frame, 2)
    if len(frame) == 2 + n * (first + 2):
        lens = np.ndarray((n,), ">u2", frame, 2, (first + 2,))
        if (lens == first).all():
            offsets = 4 + np.arange(n) * (first + 2)
            return _columns(np.frombuffer(frame, np.uint8), {first: offsets})
    offsets: list[int] = []
    lengths: list[int] = []
    pos = 2
    try:
        for _ in range(n):
            (ln,) = _U16(frame, pos)
            offsets.append(pos + 2)
            lengths.append(ln)
            pos += 2 + ln
    except struct.error:
        raise TickParseError(f"truncated frame: {n} packets announced, {len(frame)} bytes") from None
    if pos > len(frame):
        raise TickParseError(f"truncated packet at byte {offsets[-1] - 2}: length {lengths[-1]}, {len(frame)} bytes")
    offs, lens = np.asarray(offsets), np.asarray(lengths)
    kinds = set(lengths)
    groups = {k: offs[lens == k] for k in kinds} if len(kinds) > 1 else {lengths[0]: offs}
    return _columns(np.frombuffer(frame, np.uint8), groups)


def _columns(buf: np.ndarray, groups: dict[int, np.ndarray]) -> Ticks:
    parts: list[dict[str, np.ndarray]] = []
    for length, offsets in groups.items():
        if length not in (8, 28, 32, 44, 184):
            raise TickParseError(f"unknown Kite packet length {length}")
        a = _group(buf, offsets, length)
        m = len(offsets)
        tok = a[0]
        div = _divisor(tok)
        nan = np.full(m, np.nan)
        zero = np.zeros(m, np.int64)
        col = {"token": tok, "ltp": a[1] / div, "volume": nan, "oi": nan, "bid": nan, "ask": nan,
               "bid_qty": nan, "ask_qty": nan, "ts": zero, "is_index": np.full(m, length in (28, 32))}  # fmt: skip
        if length in (44, 184):
            col["volume"] = a[4].astype(np.float64)
        if length == 32:
            col["ts"] = a[7]
        if length == 184:
            col["oi"] = a[12].astype(np.float64)
            col["ts"] = a[15]
            # depth entries are 12 bytes: int32 words 16 + 3i (qty), 17 + 3i (price); bids first
            bq, bp, aq, ap = a[16], a[17], a[31], a[32]
            col["bid_qty"], col["ask_qty"] = bq.astype(np.float64), aq.astype(np.float64)
            col["bid"] = np.where(bq > 0, bp / div, np.nan)
            col["ask"] = np.where(aq > 0, ap / div, np.nan)
        parts.append(col)
    if len(parts) == 1:
        return Ticks(**parts[0])
    return Ticks(**{f: np.concatenate([p[f] for p in parts]) for f in _FIELDS})


__all__ = ["TickParseError", "Ticks", "parse_frame"]
