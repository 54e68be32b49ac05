"""The optrunner feed protocol (version 1) on the wire: JSON text frames, encoded and checked.

docs/feed-protocol.md is the specification; this module is its one implementation, shared by
the client (``live_feed_market``) and the replay server (``optrunner.live.feed_server``).
Decoding is strict because a feed is an outside input: anything malformed raises
``FeedProtocolError`` saying what is wrong, and the caller counts and drops the frame.
JSON's non-standard ``NaN``/``Infinity`` literals are refused, missing numbers are ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from optrunner.core.events import ChainEvent, TickEvent
from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot
from optrunner.market.adapters.protocol import check_instrument

PROTOCOL_VERSION = 1
MAX_ERROR_TEXT = 200

# Chain columns that must not be negative (greeks, signed by convention, may be).
_NON_NEGATIVE = frozenset(
    {"bid", "ask", "ltp", "bid_qty", "ask_qty", "volume", "oi", "future", "iv"}
)
_TICK_OPTIONAL = ("bid", "ask", "bid_qty", "ask_qty", "volume", "oi")
_NUMBER_TYPES = frozenset({int, float, type(None)})


class FeedProtocolError(ValueError):
    """A frame that does not follow the feed protocol; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    ts: datetime


@dataclass(frozen=True, slots=True)
class FeedError:
    """An ``error`` message: the peer refused something we sent."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """A client's ``subscribe`` / ``unsubscribe``: chains (and index ticks) by symbol, ticks by instrument."""

    action: str  # "subscribe" | "unsubscribe"
    symbols: tuple[str, ...]
    instruments: tuple[str, ...]


# --- encoding -------------------------------------------------------------------------------


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps({"v": PROTOCOL_VERSION, **message}, allow_nan=False, separators=(",", ":"))


def _nullable(values: np.ndarray) -> list[float | None]:
    return [None if x != x else x for x in values.tolist()]  # x != x only for NaN


def encode_chain(snapshot: ChainSnapshot) -> str:
    expiries = snapshot.expiry.astype("datetime64[D]").astype(str)
    columns: dict[str, Any] = {
        "expiry": expiries[0]
        if len(expiries) and (expiries == expiries[0]).all()
        else expiries.tolist(),
        "strike": snapshot.strike.tolist(),
        "right": np.where(snapshot.is_call, "CE", "PE").tolist(),
    }
    for name in FLOAT_COLUMNS:
        values = getattr(snapshot, name)
        if not np.isnan(values).all():
            columns[name] = _nullable(values)
    return _dumps(
        {
            "type": "chain",
            "symbol": snapshot.symbol,
            "ts": snapshot.ts.isoformat(),
            "spot": snapshot.spot,
            "columns": columns,
        }
    )


def encode_tick(tick: TickEvent) -> str:
    message: dict[str, Any] = {
        "type": "tick",
        "ts": tick.ts.isoformat(),
        "instrument": tick.instrument,
        "ltp": tick.ltp,
    }
    for name in _TICK_OPTIONAL:
        value = getattr(tick, name)
        if value == value:
            message[name] = value
    return _dumps(message)


def encode_heartbeat(ts: datetime) -> str:
    return _dumps({"type": "heartbeat", "ts": ts.isoformat()})


def encode_error(code: str, message: str) -> str:
    return _dumps({"type": "error", "code": code, "message": message[:MAX_ERROR_TEXT]})


def encode_subscription(
    action: str, symbols: Iterable[str] = (), instruments: Iterable[str] = ()
) -> str:
    if action not in ("subscribe", "unsubscribe"):
        raise ValueError(f"action must be subscribe or unsubscribe, not {action!r}")
    return _dumps({"type": action, "symbols": sorted(symbols), "instruments": sorted(instruments)})


# --- decoding -------------------------------------------------------------------------------


def _no_constants(name: str) -> None:
    raise FeedProtocolError(f"{name} is not JSON — send null for a missing number")


def _load(frame: str | bytes) -> dict[str, Any]:
    if not isinstance(frame, str):
        raise FeedProtocolError("binary frame — the protocol sends JSON text frames")
    try:
        message = json.loads(frame, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise FeedProtocolError(f"bad JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(message, dict):
        raise FeedProtocolError(f"a message must be a JSON object, got {type(message).__name__}")
    version = message.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise FeedProtocolError(
            f"protocol version {version!r} is not supported (this side speaks v{PROTOCOL_VERSION})"
        )
    return message


def _field(message: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in message:
        raise FeedProtocolError(f"{message.get('type')} message has no {name!r}")
    value = message[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FeedProtocolError(f"{message.get('type')}.{name} = {value!r} has the wrong type")
    return value


def _ts(message: dict[str, Any]) -> datetime:
    text = _field(message, "ts", str)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise FeedProtocolError(f"ts {text!r} is not an ISO 8601 time") from None
    if ts.tzinfo is None:
        raise FeedProtocolError(
            f"ts {text!r} has no UTC offset (write e.g. 2026-01-13T09:15:00+05:30)"
        )
    return ts


def _positive(message: dict[str, Any], name: str) -> float:
    value = float(_field(message, name, (int, float)))
    if not (math.isfinite(value) and value > 0.0):
        raise FeedProtocolError(f"{message['type']}.{name} = {value!r} must be a positive price")
    return value


def _decode_tick(message: dict[str, Any]) -> TickEvent:
    ts = _ts(message)
    instrument = _field(message, "instrument", str)
    try:
        check_instrument(instrument)
    except ValueError as exc:
        raise FeedProtocolError(f"tick.instrument: {exc}") from None
    ltp = _positive(message, "ltp")
    extra = []
    for name in _TICK_OPTIONAL:
        value = message.get(name)
        if value is None:
            extra.append(math.nan)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise FeedProtocolError(
                f"tick.{name} = {value!r} must be a non-negative number or null"
            )
        extra.append(float(value))
    return TickEvent(ts, instrument, ltp, *extra)


def _numbers(name: str, values: Any, n: int) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n:
        raise FeedProtocolError(f"chain column {name!r} must be a list of {n} values")
    if not {type(v) for v in values} <= _NUMBER_TYPES:
        raise FeedProtocolError(
            f"chain column {name!r} holds something other than numbers and null"
        )
    arr = np.array(values, dtype=np.float64)  # null -> NaN
    if np.isinf(arr).any():
        raise FeedProtocolError(f"chain column {name!r} holds an infinite number")
    if name in _NON_NEGATIVE and (arr < 0.0).any():
        raise FeedProtocolError(f"chain column {name!r} holds a negative value")
    return arr


def _expiries(values: Any, n: int) -> np.ndarray:
    texts = [values] * n if isinstance(values, str) else values
    if not isinstance(texts, list) or len(texts) != n or not all(isinstance(t, str) for t in texts):
        raise FeedProtocolError(f"chain column 'expiry' must be one date or a list of {n} dates")
    try:
        return np.array([date.fromisoformat(t) for t in texts], dtype="datetime64[D]")
    except ValueError as exc:
        raise FeedProtocolError(f"chain column 'expiry': {exc}") from None


def _decode_chain(message: dict[str, Any]) -> ChainEvent:
    ts = _ts(message)
    symbol = _field(message, "symbol", str).upper()
    if not symbol:
        raise FeedProtocolError("chain.symbol is empty")
    spot = _positive(message, "spot")
    columns = _field(message, "columns", dict)
    unknown = sorted(set(columns) - {"expiry", "strike", "right", *FLOAT_COLUMNS})
    if unknown:
        raise FeedProtocolError(f"chain has unknown columns {unknown}")
    strikes = columns.get("strike")
    if not isinstance(strikes, list) or not strikes:
        raise FeedProtocolError("chain column 'strike' must be a non-empty list")
    n = len(strikes)
    strike = _numbers("strike", strikes, n)
    if not (strike > 0.0).all():  # also catches null (NaN)
        raise FeedProtocolError("chain column 'strike' must hold positive numbers")
    rights = columns.get("right")
    if not isinstance(rights, list) or len(rights) != n or not set(rights) <= {"CE", "PE"}:
        raise FeedProtocolError(f"chain column 'right' must be a list of {n} values, each CE or PE")
    cols: dict[str, Any] = {
        "strike": strike,
        "expiry": _expiries(columns.get("expiry"), n),
        "is_call": np.array([r == "CE" for r in rights], dtype=bool),
    }
    for name in FLOAT_COLUMNS:
        if name in columns:
            cols[name] = _numbers(name, columns[name], n)
    snapshot = ChainSnapshot.from_columns(symbol, ts, spot, cols)
    if n > 1 and (snapshot.key[1:] == snapshot.key[:-1]).any():
        raise FeedProtocolError("chain lists a contract (expiry, strike, right) twice")
    return ChainEvent(snapshot)


def decode_server_message(frame: str | bytes) -> ChainEvent | TickEvent | Heartbeat | FeedError:
    """A server frame as an event (chain, tick), a Heartbeat or a FeedError."""
    message = _load(frame)
    kind = message.get("type")
    if kind == "tick":
        return _decode_tick(message)
    if kind == "chain":
        return _decode_chain(message)
    if kind == "heartbeat":
        return Heartbeat(_ts(message))
    if kind == "error":
        return FeedError(
            str(message.get("code", "")), str(message.get("message", ""))[:MAX_ERROR_TEXT]
        )
    raise FeedProtocolError(
        f"unknown message type {kind!r} (expected tick, chain, heartbeat or error)"
    )


def _names(message: dict[str, Any], key: str) -> Sequence[str]:
    values = message.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise FeedProtocolError(f"{message['type']}.{key} must be a list of non-empty strings")
    return values


def decode_client_message(frame: str | bytes) -> SubscriptionRequest:
    """A client frame as a subscribe/unsubscribe request."""
    message = _load(frame)
    kind = message.get("type")
    if kind not in ("subscribe", "unsubscribe"):
        raise FeedProtocolError(
            f"unknown message type {kind!r} (expected subscribe or unsubscribe)"
        )
    symbols = tuple(s.upper() for s in _names(message, "symbols"))
    instruments = tuple(_names(message, "instruments"))
    for instrument in instruments:
        try:
            check_instrument(instrument)
        except ValueError as exc:
            raise FeedProtocolError(f"{kind}.instruments: {exc}") from None
    return SubscriptionRequest(kind, symbols, instruments)
