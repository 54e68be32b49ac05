"""Secrets that never print, and redaction of every known secret from logs and error text.

A broker's API secret or access token in a log line or an exception message is a leaked
credential (logs get pasted into issues). So credentials live in :class:`Secret` (its
``str``/``repr`` is ``***``), every secret value is registered with :func:`register` when it
is loaded, and :func:`redact` replaces each registered value in a text. Error messages built
from broker answers go through :func:`redact`; :class:`RedactingFilter` does the same for log
records (installed on the root logger's handlers by :func:`install_log_redaction`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

MASK = "***"
_MIN_LEN = 6  # shorter values (a "1") would mask ordinary text
_known: set[str] = set()
_lock = threading.Lock()


class Secret:
    """A credential. ``value`` gives the text; printing it shows ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    @property
    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def register(value: str | None) -> None:
    """Remember ``value`` as a secret (no-op for empty or very short values)."""
    if value and len(value) >= _MIN_LEN:
        with _lock:
            _known.add(value)


def redact(text: Any) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    s = str(text)
    if not _known:
        return s
    for v in sorted(_known, key=len, reverse=True):
        if v in s:
            s = s.replace(v, MASK)
    return s


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (arguments merged in) with :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known:
            try:
                msg = record.getMessage()
            except Exception:  # a malformed record: leave it to the handler
                return True
            clean = redact(msg)
            if record.exc_info and record.exc_info[1] is not None:
                clean_exc = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info, record.exc_text = None, clean_exc
            if clean != msg or record.args:
                record.msg, record.args = clean, None
        return True


_filter = RedactingFilter()


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add the redacting filter to ``logger``'s handlers (root by default) and to the logger."""
    lg = logger or logging.getLogger()
    if _filter not in lg.filters:
        lg.addFilter(_filter)
    for h in lg.handlers:
        if _filter not in h.filters:
            h.addFilter(_filter)


__all__ = ["MASK", "RedactingFilter", "Secret", "install_log_redaction", "redact", "register"]
