"""The optrunner feed protocol (version 1) on the wire: JSON text frames, encoded and checked.

docs/feed-protocol.md is the specification; this module is its one implementation, shared by
the client (``live_feed_market``) and the replay server (``optrunner.live.feed_server``).
Decoding is strict because a feed is an outside input: anything malformed raises
``FeedProtocolError`` saying what is wrong and, in ``reason``, which kind of violation it is,
and the caller counts and drops the frame. JSON's non-standard ``NaN``/``Infinity`` literals
are refused, missing numbers are ``null``.

A hostile frame must cost a bounded amount of work and end as a ``FeedProtocolError``, never
as another exception: its size and nesting depth are checked before ``json.loads`` runs (a
deep frame would otherwise raise RecursionError), and what the parser or a conversion can
still raise (a >4,300-digit integer's ValueError, a 1e400-scale integer's OverflowError, a
list where a string belongs and its TypeError) is turned into a counted violation.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np

from optrunner.core.events import ChainEvent, TickEvent
from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot
from optrunner.market.adapters.protocol import check_instrument

PROTOCOL_VERSION = 1
MAX_ERROR_TEXT = 200
MAX_FRAME_CHARS = 8 * 1024 * 1024  # a 2,000-row chain is ~0.4 MB
MAX_DEPTH = 8  # the protocol nests 3 deep (message -> columns -> list)
_BRACKETS_ALWAYS_SHALLOW = 64  # a frame with fewer brackets than this cannot be too deep

# Chain columns that must not be negative (greeks, signed by convention, may be).
_NON_NEGATIVE = frozenset(
    {"bid", "ask", "ltp", "bid_qty", "ask_qty", "volume", "oi", "future", "iv"}
)
_TICK_OPTIONAL = ("bid", "ask", "bid_qty", "ask_qty", "volume", "oi")
_NUMBER_TYPES = frozenset({int, float, type(None)})
T = TypeVar("T")


# Why a frame was refused (``FeedProtocolError.reason``; the client counts by these).
BINARY, OVERSIZED, TOO_DEEP, BAD_JSON, BAD_NUMBER, WRONG_TYPE, VERSION, UNKNOWN_TYPE, INVALID = (
    "binary", "oversized", "too_deep", "bad_json", "bad_number", "wrong_type", "version",
    "unknown_type", "invalid",
)  # fmt: skip


class FeedProtocolError(ValueError):
    """A frame that does not follow the feed protocol; the message says what is wrong and
    ``reason`` names the kind of violation (one of the constants above)."""

    def __init__(self, message: str, reason: str = INVALID) -> None:
        super().__init__(message if len(message) <= 300 else message[:297] + "...")
        self.reason = reason


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
    raise FeedProtocolError(f"{name} is not JSON — send null for a missing number", BAD_NUMBER)


_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def _depth_exceeds(frame: str, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (or do not balance): linear C-speed
    passes, ~60 ms for the worst 8 MB frame. Strings are not excluded — no protocol string
    holds brackets, so a frame nesting them inside strings may be refused as well."""
    if frame.count("[") + frame.count("{") < _BRACKETS_ALWAYS_SHALLOW:
        return False
    brackets = frame.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    for _ in range(limit):  # each pass removes the innermost level of every nest
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if not brackets:
            return False
    return True


def _load(frame: str | bytes, max_chars: int = MAX_FRAME_CHARS) -> dict[str, Any]:
    if not isinstance(frame, str):
        raise FeedProtocolError("binary frame — the protocol sends JSON text frames", BINARY)
    if len(frame) > max_chars:
        raise FeedProtocolError(
            f"frame of {len(frame):,} characters exceeds {max_chars:,}", OVERSIZED
        )
    if _depth_exceeds(frame, MAX_DEPTH):
        raise FeedProtocolError(
            f"brackets nested deeper than {MAX_DEPTH} levels (or unbalanced)", TOO_DEEP
        )
    try:
        message = json.loads(frame, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise FeedProtocolError(f"bad JSON ({exc.msg} at char {exc.pos})", BAD_JSON) from None
    except RecursionError:
        raise FeedProtocolError("JSON nested too deeply", TOO_DEEP) from None
    except FeedProtocolError:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise FeedProtocolError(f"unreadable number ({str(exc)[:80]})", BAD_NUMBER) from None
    if not isinstance(message, dict):
        raise FeedProtocolError(
            f"a message must be a JSON object, got {type(message).__name__}", WRONG_TYPE
        )
    version = message.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise FeedProtocolError(
            f"protocol version {_short(version)} is not supported (this side speaks v{PROTOCOL_VERSION})",
            VERSION,
        )
    return message


def _short(value: Any) -> str:
    """A bounded repr for error messages (a hostile value may be huge)."""
    text = reprlib.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _guarded(decode: Callable[[dict[str, Any]], T], message: dict[str, Any]) -> T:
    """Run ``decode``; whatever else a hostile message makes it raise becomes a violation."""
    try:
        return decode(message)
    except FeedProtocolError:
        raise
    except OverflowError:  # an integer too large for a float, e.g. 10**400
        raise FeedProtocolError(
            f"{message.get('type')} holds a number out of range", BAD_NUMBER
        ) from None
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        raise FeedProtocolError(
            f"{message.get('type')} holds a value of the wrong type ({type(exc).__name__})",
            WRONG_TYPE,
        ) from None
    except (ValueError, RecursionError) as exc:
        raise FeedProtocolError(f"{message.get('type')} is malformed ({str(exc)[:80]})") from None


def _field(message: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in message:
        raise FeedProtocolError(f"{message.get('type')} message has no {name!r}")
    value = message[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FeedProtocolError(
            f"{message.get('type')}.{name} = {_short(value)} has the wrong type", WRONG_TYPE
        )
    return value


def _ts(message: dict[str, Any]) -> datetime:
    text = _field(message, "ts", str)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise FeedProtocolError(f"ts {_short(text)} is not an ISO 8601 time") from None
    if ts.tzinfo is None:
        raise FeedProtocolError(
            f"ts {text!r} has no UTC offset (write e.g. 2026-01-13T09:15:00+05:30)"
        )
    return ts


def _positive(message: dict[str, Any], name: str) -> float:
    value = float(_field(message, name, (int, float)))
    if not (math.isfinite(value) and value > 0.0):
        reason = INVALID if math.isfinite(value) else BAD_NUMBER
        raise FeedProtocolError(
            f"{message['type']}.{name} = {value!r} must be a positive price", reason
        )
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
                f"tick.{name} = {_short(value)} must be a non-negative number or null",
                WRONG_TYPE if not isinstance(value, int | float) else INVALID,
            )
        extra.append(float(value))
    return TickEvent(ts, instrument, ltp, *extra)


def _numbers(name: str, values: Any, n: int) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n:
        raise FeedProtocolError(f"chain column {name!r} must be a list of {n} values")
    if not {type(v) for v in values} <= _NUMBER_TYPES:
        raise FeedProtocolError(
            f"chain column {name!r} holds something other than numbers and null", WRONG_TYPE
        )
    arr = np.array(values, dtype=np.float64)  # null -> NaN
    if np.isinf(arr).any():
        raise FeedProtocolError(f"chain column {name!r} holds an infinite number", BAD_NUMBER)
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


def decode_server_message(
    frame: str | bytes, max_chars: int = MAX_FRAME_CHARS
) -> ChainEvent | TickEvent | Heartbeat | FeedError:
    """A server frame as an event (chain, tick), a Heartbeat or a FeedError.

    Raises only FeedProtocolError, whatever the frame holds.
    """
    message = _load(frame, max_chars)
    kind = message.get("type")
    if kind == "tick":
        return _guarded(_decode_tick, message)
    if kind == "chain":
        return _guarded(_decode_chain, message)
    if kind == "heartbeat":
        return _guarded(lambda m: Heartbeat(_ts(m)), message)
    if kind == "error":
        return FeedError(
            _text(message.get("code", "")), _text(message.get("message", ""))[:MAX_ERROR_TEXT]
        )
    raise FeedProtocolError(
        f"unknown message type {_short(kind)} (expected tick, chain, heartbeat or error)",
        UNKNOWN_TYPE,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _short(value)


def _names(message: dict[str, Any], key: str) -> Sequence[str]:
    values = message.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise FeedProtocolError(f"{message['type']}.{key} must be a list of non-empty strings")
    return values


def decode_client_message(
    frame: str | bytes, max_chars: int = MAX_FRAME_CHARS
) -> SubscriptionRequest:
    """A client frame as a subscribe/unsubscribe request (raises only FeedProtocolError)."""
    message = _load(frame, max_chars)
    kind = message.get("type")
    if kind not in ("subscribe", "unsubscribe"):
        raise FeedProtocolError(
            f"unknown message type {_short(kind)} (expected subscribe or unsubscribe)", UNKNOWN_TYPE
        )
    return _guarded(_decode_subscription, message)


def _decode_subscription(message: dict[str, Any]) -> SubscriptionRequest:
    kind = message["type"]
    symbols = tuple(s.upper() for s in _names(message, "symbols"))
    instruments = tuple(_names(message, "instruments"))
    for instrument in instruments:
        try:
            check_instrument(instrument)
        except ValueError as exc:
            raise FeedProtocolError(f"{kind}.instruments: {exc}") from None
    return SubscriptionRequest(kind, symbols, instruments)
