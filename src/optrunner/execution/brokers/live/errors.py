"""What can go wrong talking to a broker, in the terms the order manager acts on.

Every adapter maps its broker's failures (HTTP codes, SDK exceptions, error bodies) to one
of these, and :class:`~.adapter.LiveBroker` turns each into the order manager's contract
(``execution/requests.py``):

================== ================================= ==========================================
exception          meaning                           what happens to a submit
================== ================================= ==========================================
RateLimited        429 / "too many requests"         REJECT(RATE_LIMITED): resent after backoff
NotSent            connection refused, DNS, TLS      ``BrokerUnreachable``: resent as is
PossiblySent       5xx, timeout, connection reset    ambiguous: resolved by client id, never resent blind
SessionExpired     token expired / invalid           REJECT + alert + new orders halted until re-login
BadAnswer          an answer that does not parse     ambiguous + the strategy halted + alert
BrokerRefused      the broker's own refusal          REJECT(BROKER) with the broker's reason
================== ================================= ==========================================

Messages are redacted (:func:`~.secrets.redact`) when the exception is built.
"""

from __future__ import annotations

from optrunner.execution.brokers.base import BrokerUnreachable
from optrunner.execution.brokers.live.secrets import redact


class LiveBrokerError(Exception):
    """Base of the taxonomy; the message never holds a registered secret. ``transient``: the
    same read may well succeed in a moment (reconciliation retries it instead of halting)."""

    transient = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(redact(message))
        self.status = status


class RateLimited(LiveBrokerError):
    transient = True


class PossiblySent(LiveBrokerError):
    transient = True


class SessionExpired(LiveBrokerError):
    transient = True


class BadAnswer(LiveBrokerError):
    pass


class BrokerRefused(LiveBrokerError):
    pass


class NotSent(BrokerUnreachable, LiveBrokerError):
    """Certainly did not reach the broker (a ``BrokerUnreachable``, so the order manager resends)."""

    transient = True


def classify_http(status: int, message: str) -> LiveBrokerError | None:
    """The taxonomy for an HTTP status (None for 2xx). 4xx other than 401/403/429 is a refusal."""
    if status < 300:
        return None
    if status == 429:
        return RateLimited(message, status)
    if status in (401, 403):
        return SessionExpired(message, status)
    if status >= 500:
        return PossiblySent(message, status)
    return BrokerRefused(message, status)


__all__ = [
    "BadAnswer", "BrokerRefused", "LiveBrokerError", "NotSent", "PossiblySent", "RateLimited",
    "SessionExpired", "classify_http",
]  # fmt: skip
