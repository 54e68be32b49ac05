"""How numbers, money and times read in the backtest report.

Rupees are grouped the Indian way (₹1,23,456.78: thousands, then lakhs and crores in pairs)
because that is how the report's readers count money. A value that is missing or undefined
(``None``, NaN, infinity: a ratio with a zero denominator) shows as an em dash, never as
"nan" or "inf". Times in the run folder are already IST; they are shown as IST wall clock.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from html import escape

DASH = "—"


def _finite(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def indian_digits(whole: int) -> str:
    """1234567 -> "12,34,567": the last three digits, then groups of two."""
    text = str(abs(whole))
    head, tail = text[:-3], text[-3:]
    pairs = [head[max(i - 2, 0) : i] for i in range(len(head), 0, -2)][::-1]
    return ("-" if whole < 0 else "") + ",".join([*pairs, tail])


def rupees(value: object, decimals: int = 2) -> str:
    """₹1,23,456.78; negative as -₹1,23,456.78; missing as —."""
    x = _finite(value)
    if x is None:
        return DASH
    cents = round(abs(x) * 10**decimals)
    whole, frac = divmod(cents, 10**decimals)
    sign = "-" if x < 0 and cents else ""
    return f"{sign}₹{indian_digits(whole)}" + (f".{frac:0{decimals}d}" if decimals else "")


def number(value: object, decimals: int = 2) -> str:
    """A plain figure with Indian grouping (spot, option prices); — when missing."""
    return rupees(value, decimals).replace("₹", "")


def count(value: object) -> str:
    x = _finite(value)
    return DASH if x is None else indian_digits(round(x))


def percent(value: object, decimals: int = 2, signed: bool = False) -> str:
    """12.34%; with ``signed`` +12.34% / -12.34% (zero unsigned); missing as —."""
    x = _finite(value)
    if x is None:
        return DASH
    x = round(x, decimals) or 0.0  # no "-0.00%"
    return f"{x:+.{decimals}f}%" if signed and x else f"{x:.{decimals}f}%"


def ratio(value: object, decimals: int = 2) -> str:
    x = _finite(value)
    return DASH if x is None else f"{x:.{decimals}f}"


def day(value: date | str) -> str:
    """05 Jan 2026."""
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{d:%d %b %Y}"


def minute(value: datetime | str) -> str:
    """05 Jan 2026 09:15 (IST wall clock; the run folder's times are IST)."""
    if not value:
        return DASH
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{t:%d %b %Y %H:%M}"


def sign_class(value: object) -> str:
    """CSS class colouring a money cell: pos, neg or nothing."""
    x = _finite(value)
    return "" if x is None or x == 0 else ("pos" if x > 0 else "neg")


def td(text: str, cls: str = "", sort: object = None) -> str:
    """One escaped table cell; ``sort`` is the raw value the trade table sorts by."""
    attrs = (f' class="{cls}"' if cls else "") + (f' data-v="{escape(str(sort))}"' if sort is not None else "")
    return f"<td{attrs}>{escape(text)}</td>"


def table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table of ``td`` cells under escaped column headings; a heading is left-aligned
    like its column when the first row's cell is text (class "text" or "legs")."""
    first = rows[0] if rows else []
    left = {j for j, cell in enumerate(first) if cell.startswith(('<td class="text"', '<td class="legs"'))}
    th = "".join(f'<th class="text">{escape(h)}</th>' if j in left else f"<th>{escape(h)}</th>"
                 for j, h in enumerate(head))  # fmt: skip
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    attrs = f' class="{cls}"' if cls else ""
    return f"<table{attrs}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


__all__ = [
    "DASH", "count", "day", "indian_digits", "minute", "number", "percent", "ratio", "rupees",
    "sign_class", "table", "td",
]  # fmt: skip
