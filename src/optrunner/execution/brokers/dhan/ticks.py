"""Dhan v2 Live Market Feed binary packets, parsed with NumPy (the documented layout, no SDK).

Why our own parser: Dhan's SDK (``dhanhq.marketfeed``) unpacks one packet per call with
``struct`` into dicts of formatted strings and runs its own event loop; a chain of ~80
contracts needs columns, in our feed thread, against a fake. The layout
(https://dhanhq.co/docs/v2/live-market-feed/, little-endian, no padding):

* an 8-byte header: response code u8, message length u16, exchange segment u8 (``IDX_I`` 0,
  ``NSE_FNO`` 2, ``BSE_FNO`` 8 ...), security id u32;
* response codes and whole-packet sizes: 2 ticker (16: ltp f32, last trade time u32),
  4 quote (50: ltp, last qty u16, ltt, average price f32, volume u32, total sell / buy qty
  u32, open/close/high/low f32), 5 OI (12: oi u32), 6 previous close (16: close f32,
  previous OI u32), 7 market status (8), 8 full (162: the quote's fields up to total buy
  qty, then OI, OI day high/low u32, OHLC f32, then 5 depth levels of 20 bytes — bid qty
  u32, ask qty u32, bid orders u16, ask orders u16, bid price f32, ask price f32),
  50 disconnect (10: reason code u16);
* prices are rupees as float32 (rounded here to paise, undoing float32's 25000.05 ->
  25000.05078).

A WebSocket message may carry several packets back to back. A message of one packet (how
Dhan's own SDK reads the feed) is unpacked with one ``struct`` call — NumPy's per-call cost
would be most of the work; a message of one kind (full packets of a chain) is read as one
structured NumPy view, no copy, no Python loop; a mixed one is walked once for offsets and
each kind gathered as a group. A
packet's size is its kind's documented size (the header's length field is read only to step
over a kind we do not know, as the SDK never reads it). A packet that is cut short or of an
unknown kind is rejected and counted (``Parsed.bad``);
the packets before it are kept, and parsing never raises on feed input.

Chains key rows by one int per instrument: ``segment << 32 | security_id`` (see
:func:`token`), so an index (``IDX_I`` is 0) keeps its security id and an NSE option never
meets a BSE one with the same id.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from optrunner.execution.brokers.kite.ticks import Ticks

TICKER, QUOTE, OI, PREV_CLOSE, STATUS, FULL, DISCONNECT = 2, 4, 5, 6, 7, 8, 50
#: Dhan's exchangeSegment names and the numbers packets carry (docs "Annexure")
SEGMENTS = {"IDX_I": 0, "NSE_EQ": 1, "NSE_FNO": 2, "NSE_CURRENCY": 3, "BSE_EQ": 4, "MCX_COMM": 5,
            "BSE_CURRENCY": 7, "BSE_FNO": 8}  # fmt: skip
SEGMENT_NAMES = {v: k for k, v in SEGMENTS.items()}

_HEAD = [("code", "u1"), ("length", "<u2"), ("segment", "u1"), ("sid", "<u4")]
_QUOTE_BODY = [("ltp", "<f4"), ("ltq", "<u2"), ("ltt", "<u4"), ("atp", "<f4"), ("volume", "<u4"),
               ("sell_qty", "<u4"), ("buy_qty", "<u4")]  # fmt: skip
_OHLC = [("open", "<f4"), ("close", "<f4"), ("high", "<f4"), ("low", "<f4")]
_DEPTH = [(f"{f}{i}", t) for i in range(5) for f, t in
          (("bq", "<u4"), ("aq", "<u4"), ("bo", "<u2"), ("ao", "<u2"), ("bp", "<f4"), ("ap", "<f4"))]  # fmt: skip
#: response code -> the packet as a packed structured dtype (its itemsize is the packet's size)
DTYPES: dict[int, np.dtype] = {
    TICKER: np.dtype([*_HEAD, ("ltp", "<f4"), ("ltt", "<u4")]),
    QUOTE: np.dtype(_HEAD + _QUOTE_BODY + _OHLC),
    OI: np.dtype([*_HEAD, ("oi", "<u4")]),
    PREV_CLOSE: np.dtype([*_HEAD, ("close", "<f4"), ("prev_oi", "<u4")]),
    STATUS: np.dtype(_HEAD),
    FULL: np.dtype(_HEAD + _QUOTE_BODY + [("oi", "<u4"), ("oi_high", "<u4"), ("oi_low", "<u4")] + _OHLC + _DEPTH),
    DISCONNECT: np.dtype([*_HEAD, ("reason", "<u2")]),
}
SIZES = {code: dt.itemsize for code, dt in DTYPES.items()}  # 16, 50, 12, 16, 8, 162, 10
#: the kinds that carry a quote a chain can use (previous close and status do not)
_QUOTES = (TICKER, QUOTE, OI, FULL)
#: disconnect reason codes (docs "Annexure: data API errors")
REASONS = {805: "too many connections or requests", 806: "Data APIs not subscribed", 807: "access token expired",
           808: "authentication failed", 809: "access token invalid", 810: "client id invalid"}  # fmt: skip


def token(segment: str, security_id: str | int) -> int:
    """The chain's int key of an instrument (``segment << 32 | security_id``)."""
    return SEGMENTS[segment] << 32 | int(security_id)


def split_token(tok: int) -> tuple[str, str]:
    """(exchangeSegment name, securityId) of a chain key, as a subscription names them."""
    return SEGMENT_NAMES[int(tok) >> 32], str(int(tok) & 0xFFFFFFFF)


@dataclass(slots=True)
class Parsed:
    """One message: its quotes as columns, packets rejected, disconnect reasons announced."""

    ticks: Ticks
    bad: int = 0
    disconnects: tuple[int, ...] = ()
    packets: int = 0


def _empty() -> Ticks:
    f = np.empty(0)
    return Ticks(np.empty(0, np.int64), f, f, f, f, f, f, f, np.empty(0, np.int64), np.empty(0, bool))


def _price(a: np.ndarray) -> np.ndarray:
    return np.round(a.astype(np.float64), 2)


def _columns(code: int, p: np.ndarray) -> dict[str, np.ndarray]:
    """A group of packets of one kind (a structured array) -> Ticks columns."""
    m = len(p)
    nan = np.full(m, np.nan)
    seg = p["segment"].astype(np.int64)
    col = {"token": (seg << 32) | p["sid"].astype(np.int64), "ltp": nan, "volume": nan, "oi": nan, "bid": nan,
           "ask": nan, "bid_qty": nan, "ask_qty": nan, "ts": np.zeros(m, np.int64), "is_index": seg == 0}  # fmt: skip
    if code in (TICKER, QUOTE, FULL):
        col["ltp"], col["ts"] = _price(p["ltp"]), p["ltt"].astype(np.int64)
    if code in (QUOTE, FULL):
        col["volume"] = p["volume"].astype(np.float64)
    if code in (OI, FULL):
        col["oi"] = p["oi"].astype(np.float64)
    if code == FULL:  # best bid/ask from the first depth level; an empty side has no price
        bq, aq = p["bq0"].astype(np.float64), p["aq0"].astype(np.float64)
        col["bid_qty"], col["ask_qty"] = bq, aq
        col["bid"] = np.where(bq > 0, _price(p["bp0"]), np.nan)
        col["ask"] = np.where(aq > 0, _price(p["ap0"]), np.nan)
    return col


def _walk(frame: bytes) -> tuple[dict[int, list[int]], int]:
    """(code -> packet offsets, packets rejected) of a mixed message, walked once."""
    groups: dict[int, list[int]] = {}
    pos, n = 0, len(frame)
    while pos < n:
        code = frame[pos]
        size = SIZES.get(code)
        if size is None:  # an unknown kind: skip it by its declared length when that is sane
            declared = int.from_bytes(frame[pos + 1: pos + 3], "little") if pos + 3 <= n else 0
            if declared < 8 or pos + declared > n:
                return groups, 1  # cannot find the next packet: the rest is one bad packet
            groups.setdefault(-1, []).append(pos)
            pos += declared
            continue
        if pos + size > n:
            return groups, 1  # cut short
        groups.setdefault(code, []).append(pos)
        pos += size
    return groups, 0


#: one ticker / full packet with ``struct`` (a full one up to its best depth level)
_TICKER1 = struct.Struct("<BHBIfI")
_FULL1 = struct.Struct("<BHBIfHIfIIIIII4fIIHHff")


def _cents(x: float) -> float:
    return round(x * 100) / 100  # as np.round(x, 2): rint(x * 100) / 100


def _one(code: int, frame: bytes) -> Ticks:
    """A message of exactly one ticker or full packet, without NumPy's per-call overhead."""
    nan = float("nan")
    if code == TICKER:
        _, _, seg, sid, ltp, ltt = _TICKER1.unpack_from(frame)
        vol = oi = bid = ask = bq = aq = nan
    else:
        (_, _, seg, sid, ltp, _, ltt, _, volume, _, _, open_interest, *_, bqi, aqi, _, _, bp, ap) = _FULL1.unpack_from(frame)
        vol, oi, bq, aq = float(volume), float(open_interest), float(bqi), float(aqi)
        bid, ask = (_cents(bp) if bqi > 0 else nan), (_cents(ap) if aqi > 0 else nan)
    v = np.array([_cents(ltp), vol, oi, bid, ask, bq, aq])  # one array, its columns as 1-row views
    i = np.array([seg << 32 | sid, ltt], np.int64)
    return Ticks(i[:1], v[:1], v[1:2], v[2:3], v[3:4], v[4:5], v[5:6], v[6:], i[1:], np.array([seg == 0]))


def parse_frame(frame: bytes) -> Parsed:
    """Every packet of one binary WebSocket message (see the module docstring)."""
    n = len(frame)
    if n == 0:
        return Parsed(_empty())
    code = frame[0]
    size = SIZES.get(code)
    if n == size and code in (TICKER, FULL):
        return Parsed(_one(code, frame), packets=1)
    if size is not None and n % size == 0:  # fast path: one kind throughout, read in place
        k = n // size
        if k == 1 or bytes(np.frombuffer(frame, np.uint8)[::size]) == bytes([code]) * k:
            arr = np.frombuffer(frame, DTYPES[code])
            return _result({code: arr}, 0, k)
    groups, cut = _walk(frame)
    buf = np.frombuffer(frame, np.uint8)
    arrays = {}
    for c, offs in groups.items():
        if c == -1:
            continue  # unknown kinds are skipped, counted as rejected
        idx = np.asarray(offs)[:, None] + np.arange(SIZES[c])
        arrays[c] = np.ascontiguousarray(buf[idx]).view(DTYPES[c])[:, 0]
    bad = cut + len(groups.get(-1, ()))
    return _result(arrays, bad, sum(len(o) for o in groups.values()) + cut)


def _result(arrays: dict[int, np.ndarray], bad: int, packets: int) -> Parsed:
    parts = [_columns(c, a) for c, a in arrays.items() if c in _QUOTES and len(a)]
    disconnects = tuple(int(r) for r in arrays[DISCONNECT]["reason"]) if DISCONNECT in arrays else ()
    if not parts:
        ticks = _empty()
    elif len(parts) == 1:
        ticks = Ticks(**parts[0])
    else:
        ticks = Ticks(**{f: np.concatenate([p[f] for p in parts]) for f in parts[0]})
    return Parsed(ticks, bad, disconnects, packets)


__all__ = ["DTYPES", "REASONS", "SEGMENTS", "SIZES", "Parsed", "parse_frame", "split_token", "token"]
