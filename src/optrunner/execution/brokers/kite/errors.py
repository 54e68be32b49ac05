"""The ``kiteconnect`` SDK's failures mapped to our taxonomy (execution/brokers/live/errors.py).

The SDK raises ``requests`` exceptions for transport failures and ``KiteException``
subclasses (with the HTTP code in ``.code``) for error bodies; an answer that is not JSON is
a ``DataException`` (code 502). Kite's documented codes: 400 input, 403 token/permission,
429 rate limit, 500 general, 502 data (OMS answer), 503 network (OMS unreachable).
"""

from __future__ import annotations

from optrunner.execution.brokers.live.errors import (
    BadAnswer,
    BrokerRefused,
    LiveBrokerError,
    NotSent,
    PossiblySent,
    RateLimited,
    SessionExpired,
)


def map_kite_error(exc: BaseException, what: str) -> LiveBrokerError:
    """The taxonomy for an exception raised by a ``KiteConnect`` call (or by ``requests``)."""
    import requests
    from kiteconnect import exceptions as kex

    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.InvalidURL):
        return NotSent(f"{what}: not sent ({name})")
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
        text = str(exc)
        if "Connection refused" in text or "Failed to establish" in text or "Name or service" in text:
            return NotSent(f"{what}: not sent ({name}: connection refused)")
        return PossiblySent(f"{what}: connection lost ({name})")
    if isinstance(exc, requests.exceptions.RequestException):
        return PossiblySent(f"{what}: no answer ({name})")
    if isinstance(exc, kex.KiteException):
        code = getattr(exc, "code", 500)
        msg = f"{what}: {name} ({code}): {exc}"
        if code == 429:
            return RateLimited(msg, code)
        if isinstance(exc, kex.TokenException):
            return SessionExpired(msg, code)
        if isinstance(exc, kex.DataException) and "parse" in str(exc):
            return BadAnswer(msg, code)  # JSON that does not parse
        if code >= 500:  # incl. a gateway's HTML error page ("Unknown Content-Type"): it may have arrived
            return PossiblySent(msg, code)
        return BrokerRefused(msg, code)
    if isinstance(exc, KeyError | TypeError | ValueError):
        return BadAnswer(f"{what}: the answer did not parse ({name}: {exc})")
    return PossiblySent(f"{what}: {name}: {exc}")
