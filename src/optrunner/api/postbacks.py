"""Kite's postbacks: ``POST /api/brokers/kite/postback``, the order updates Kite POSTs to the
"Postback URL" of the app (https://kite.trade/docs/connect/v3/postbacks/).

Kite cannot send our bearer token, so a postback is trusted by its own ``checksum``: the hex
SHA-256 of ``order_id + order_timestamp + api_secret``, which only Kite and we can compute.
A postback is the same JSON as the ticker's order-update message, so it takes the same path
(:meth:`~optrunner.execution.brokers.kite.orders.KiteBroker.on_order_message`): the shared
adapter de-duplicates it against the ticker's copy and the polled order book, so the three
sources can arrive in any order, or twice, and each change is applied once.

The service must be reachable from Kite for this (a public HTTPS URL in front of it); with
none, the ticker's order updates and polling still keep the book.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from optrunner.api.models import Model
from optrunner.live.service import TradingService

log = logging.getLogger(__name__)
PATH = "/api/brokers/kite/postback"


class PostbackAnswer(Model):
    accepted: bool
    order_id: str


def checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Kite's postback checksum: hex SHA-256 of order_id + order_timestamp + api_secret."""
    return hashlib.sha256((order_id + order_timestamp + api_secret).encode()).hexdigest()


def router(service: TradingService, api_secret: Callable[[], str | None]) -> APIRouter:
    """The postback route; ``api_secret()`` reads Kite's secret when a postback comes (None:
    not configured, so no postback can be verified and every one is refused)."""
    r = APIRouter(tags=["brokers"])

    @r.post(PATH, response_model=PostbackAnswer)
    async def kite_postback(request: Request) -> PostbackAnswer:
        """An order update from Kite, verified by its checksum (no bearer token: Kite sends none)."""
        hook = getattr(service.kernel.broker, "on_order_message", None)
        if service.broker_name != "kite" or hook is None:
            raise HTTPException(404, "this service does not trade through Kite: no postbacks are taken")
        try:
            data: Any = json.loads(await request.body())
        except ValueError:
            raise HTTPException(400, "a postback is a JSON object") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "a postback is a JSON object")
        order_id, stamp, sent = (str(data.get(k) or "") for k in ("order_id", "order_timestamp", "checksum"))
        if not order_id or not stamp or not sent:
            raise HTTPException(422, "a postback needs order_id, order_timestamp and checksum")
        secret = api_secret()
        if not secret:
            raise HTTPException(409, "Kite's api_secret is not configured: postbacks cannot be verified")
        if not hmac.compare_digest(checksum(order_id, stamp, secret), sent.lower()):
            log.warning("kite postback for order %s refused: wrong checksum", order_id)
            raise HTTPException(403, "wrong checksum: not a postback from Kite for this app")
        hook({"type": "order", "data": data})
        return PostbackAnswer(accepted=True, order_id=order_id)

    return r


def kite_api_secret() -> str | None:
    """Kite's api_secret from the environment or the secrets file, read when needed."""
    from optrunner.execution.brokers.kite.config import kite_settings

    secret = kite_settings().api_secret
    return secret.value if secret is not None else None


__all__ = ["PATH", "PostbackAnswer", "checksum", "kite_api_secret", "router"]
