"""NorenOMS answers: ``{"stat": "Ok", ...}`` or ``{"stat": "Not_Ok", "emsg": "..."}``, mostly
with HTTP 200, so the ``stat``/``emsg`` pair decides, mapped onto the shared taxonomy:

================================================  =====================================
``emsg``                                          taxonomy
================================================  =====================================
``Session Expired :  Invalid Session Key``        SessionExpired (halt new orders)
``no data`` (an empty book)                       an empty list, not an error
anything else on a request                        BrokerRefused with Shoonya's text
a body that is not JSON / not the documented type BadAnswer (halt)
================================================  =====================================

HTTP 429 / 5xx / timeouts are classified by the shared REST client before this.
"""

from __future__ import annotations

from typing import Any

from optrunner.execution.brokers.live.errors import (
    BadAnswer,
    BrokerRefused,
    RateLimited,
    SessionExpired,
)


def is_no_data(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("stat") == "Not_Ok" and "no data" in str(answer.get("emsg", "")).lower()


def check(answer: Any, what: str) -> Any:
    """``answer`` when it is a success, else the taxonomy's exception for it."""
    if isinstance(answer, list):
        return answer
    if not isinstance(answer, dict) or "stat" not in answer:
        raise BadAnswer(f"{what}: answer is {type(answer).__name__} without 'stat'")
    if answer["stat"] == "Ok":
        return answer
    if answer["stat"] != "Not_Ok":
        raise BadAnswer(f"{what}: stat {answer['stat']!r} is neither Ok nor Not_Ok")
    emsg = str(answer.get("emsg") or "")
    low = emsg.lower()
    if "session expired" in low or "invalid session key" in low:
        raise SessionExpired(f"{what}: {emsg}")
    if "too many" in low or "rate limit" in low:
        raise RateLimited(f"{what}: {emsg}")
    raise BrokerRefused(f"{what}: {emsg or 'Not_Ok without emsg'}")
