"""Strict reads of a broker's JSON records: a missing or malformed field is a :class:`BadAnswer`.

Brokers send numbers as numbers (Dhan) or as strings (NorenOMS: ``"qty": "75"``); both read
the same here. Nothing is defaulted silently: an order record without its quantity says
nothing we can act on, and the adapter halts rather than guess (issue 15).
"""

from __future__ import annotations

from typing import Any

from optrunner.execution.brokers.live.errors import BadAnswer


def text(row: dict[str, Any], key: str, who: str) -> str:
    v = row.get(key)
    if v is None or v == "" or isinstance(v, dict | list):
        raise BadAnswer(f"{who} answer lacks {key!r} (fields: {', '.join(sorted(row)[:12])})")
    return str(v)


def number(row: dict[str, Any], key: str, who: str) -> float:
    v = row.get(key)
    if isinstance(v, bool):
        raise BadAnswer(f"{who} answer field {key!r} = {v!r} is not a number")
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadAnswer(f"{who} answer field {key!r} = {v!r} is not a number") from None


def whole(row: dict[str, Any], key: str, who: str) -> int:
    n = number(row, key, who)
    if not n.is_integer():
        raise BadAnswer(f"{who} answer field {key!r} = {row.get(key)!r} is not a whole number")
    return int(n)


def whole_or_zero(row: dict[str, Any], key: str, who: str) -> int:
    """``whole`` for a field brokers leave empty until it has a value (a fill count)."""
    return 0 if row.get(key) in (None, "") else whole(row, key, who)


def price_or_none(value: Any) -> float | None:
    """An informative price (a position's average): None when absent, zero or unreadable —
    never a :class:`BadAnswer`, since nothing is decided on it (an adopted position then
    takes its price from the order book)."""
    if isinstance(value, bool):
        return None
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if price > 0 else None


__all__ = ["number", "price_or_none", "text", "whole", "whole_or_zero"]
