"""The kiteconnect SDK's failures mapped to the order manager's terms, with real SDK and
requests exceptions (a refused connection raised by requests itself)."""

from __future__ import annotations

import socket

import pytest
import requests
from kiteconnect import exceptions as kex

from optrunner.execution.brokers.base import BrokerUnreachable
from optrunner.execution.brokers.kite.errors import map_kite_error
from optrunner.execution.brokers.live.errors import (
    BadAnswer,
    BrokerRefused,
    NotSent,
    PossiblySent,
    RateLimited,
    SessionExpired,
)


def test_a_refused_connection_is_not_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(requests.exceptions.ConnectionError) as info:
        requests.post(f"http://127.0.0.1:{port}/orders/regular", timeout=2)
    err = map_kite_error(info.value, "place X")
    assert isinstance(err, NotSent) and isinstance(err, BrokerUnreachable)


@pytest.mark.parametrize(("exc", "kind"), [
    (kex.NetworkException("Too many requests", code=429), RateLimited),
    (kex.TokenException("Token is invalid or has expired.", code=403), SessionExpired),
    (kex.PermissionException("Insufficient permission", code=403), BrokerRefused),
    (kex.InputException("Invalid `tradingsymbol`.", code=400), BrokerRefused),
    (kex.GeneralException("Something went wrong", code=500), PossiblySent),
    (kex.NetworkException("Gateway timed out", code=504), PossiblySent),
    (kex.DataException("Unknown Content-Type (text/html) with response: (<html>)", code=502), PossiblySent),
    (kex.DataException("Couldn't parse the JSON response received from the server: b'{'", code=502), BadAnswer),
    (requests.exceptions.ReadTimeout("read timed out"), PossiblySent),
    (KeyError("order_id"), BadAnswer),
])  # fmt: skip
def test_sdk_errors_map_to_the_taxonomy(exc: Exception, kind: type) -> None:
    assert type(map_kite_error(exc, "place X")) is kind
