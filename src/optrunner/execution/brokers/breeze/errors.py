"""Breeze answers: ``{"Success": ..., "Status": 200, "Error": null}`` or ``{"Success": null,
"Status": 500, "Error": "Invalid session."}`` — often with HTTP 200, so ``Status``/``Error``
decide, mapped onto the shared taxonomy:

==================================================  ======================================
``Error``                                           taxonomy
==================================================  ======================================
``Invalid session.`` / ``Resource not available.``  SessionExpired (log in again)
``Public Key does not exist.``                      BrokerRefused (the api_key is wrong)
``Limit exceed`` / "too many"                       RateLimited
anything else                                       BrokerRefused with Breeze's text
a body without ``Status`` / not a JSON object       BadAnswer
==================================================  ======================================
"""

from __future__ import annotations

from typing import Any

from optrunner.execution.brokers.live.errors import (
    BadAnswer,
    BrokerRefused,
    RateLimited,
    SessionExpired,
)
from optrunner.execution.brokers.live.secrets import redact


def check(answer: Any, what: str) -> Any:
    """``answer["Success"]`` when the call succeeded, else the taxonomy's exception."""
    if not isinstance(answer, dict) or "Status" not in answer:
        raise BadAnswer(f"{what}: answer is {type(answer).__name__} without 'Status'")
    err = answer.get("Error")
    try:
        status = int(answer["Status"])
    except (TypeError, ValueError):
        raise BadAnswer(f"{what}: Status {answer['Status']!r} is not a number") from None
    if status == 200 and not err and answer.get("Success") is not None:
        return answer["Success"]
    text = redact(str(err or f"Status {status} without Success"))[:300]
    low = text.lower()
    if "invalid session" in low or "resource not available" in low or ("session" in low and "expire" in low):
        raise SessionExpired(f"{what}: {text}")
    if "limit exceed" in low or "too many" in low:
        raise RateLimited(f"{what}: {text}")
    raise BrokerRefused(f"{what}: {text}")


__all__ = ["check"]
