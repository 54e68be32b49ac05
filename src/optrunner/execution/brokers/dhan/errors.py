"""Dhan's error answers, sorted into what the adapter must do about them.

Dhan answers an error with an HTTP status and ``{"errorType", "errorCode", "errorMessage"}``
(https://dhanhq.co/docs/v2/annexure/#trading-api-error). The code decides, not the text:

========  =========================================  ===================================
code      meaning (Dhan)                             what we do
========  =========================================  ===================================
DH-901    access token invalid or expired            token expired: halt new orders
DH-902    not subscribed to Data APIs / no access    refused (our set-up is wrong)
DH-903    account issue (segment not activated...)   refused
DH-904    rate limit                                 back off and resend
DH-905    input exception (bad field)                refused with Dhan's reason
DH-906    order error (RMS, not modifiable...)       refused with Dhan's reason
DH-907    data error (nothing found...)              refused / "not found"
DH-908    internal server error                      possibly processed: resolve first
DH-909    network error                              possibly processed: resolve first
DH-910    other                                      possibly processed: resolve first
========  =========================================  ===================================

HTTP 429 is a rate limit whatever the body says; 401/403 an expired token; any other 5xx a
possibly-processed request.
"""

from __future__ import annotations

import re
from typing import Any

from optrunner.execution.brokers.live.errors import (
    BrokerRefused,
    LiveBrokerError,
    PossiblySent,
    RateLimited,
    SessionExpired,
)

_CODE = re.compile(r"\b(DH-9\d\d)\b")
_BY_CODE: dict[str, type[LiveBrokerError]] = {
    "DH-901": SessionExpired, "DH-904": RateLimited, "DH-908": PossiblySent, "DH-909": PossiblySent,
    "DH-910": PossiblySent,
}  # fmt: skip
NOT_FOUND = "DH-907"


def error_text(body: Any) -> str:
    """Dhan's error body as ``"DH-906 Order_Error: <message>"`` (the code leads: it decides)."""
    if isinstance(body, dict) and ("errorCode" in body or "errorMessage" in body):
        return f"{body.get('errorCode') or ''} {body.get('errorType') or ''}: {body.get('errorMessage') or ''}".strip()
    return str(body)[:300]


def code_of(exc: LiveBrokerError) -> str:
    m = _CODE.search(str(exc))
    return m.group(1) if m else ""


def refine(exc: LiveBrokerError) -> LiveBrokerError:
    """The taxonomy by Dhan's code where the HTTP status alone misleads (a DH-901 or DH-904
    answered with a plain 400 is still an expired token or a rate limit)."""
    if not isinstance(exc, BrokerRefused):
        return exc
    cls = _BY_CODE.get(code_of(exc))
    return exc if cls is None else cls(str(exc), exc.status)
