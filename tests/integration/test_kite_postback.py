"""Kite's postbacks reach the order manager through ``POST /api/brokers/kite/postback``: the
fake Kite POSTs every order update to the registered URL with its documented checksum, as
Kite does; the route verifies it and hands the update to the adapter. With polling and the
ticker off, a fill can only arrive this way. A wrong checksum, a service not on Kite, a body
that is not JSON and a missing secret are refused with a 4xx and change nothing."""

from __future__ import annotations

import time
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from kite_cases import T0, intent, make_broker, make_om, start_fake

from fakes.kite_server import API_SECRET, FakeKite, postback_checksum
from fakes.server_thread import ServerThread
from optrunner.api import postbacks
from optrunner.core.clock import SimClock
from optrunner.core.types import OrderState as S
from optrunner.core.types import Side

TOKEN = "fake-access-token-000000000009"


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    f = start_fake()
    f.issue_token(TOKEN)
    yield f
    f.stop()


def _service(broker: object, name: str = "kite") -> object:
    """What the route reads of a TradingService: the kernel's broker and the broker's name."""
    return types.SimpleNamespace(kernel=types.SimpleNamespace(broker=broker), broker_name=name)


def _receiver(service: object, secret: str | None = API_SECRET) -> ServerThread:
    app = FastAPI()
    app.include_router(postbacks.router(service, lambda: secret))  # type: ignore[arg-type]
    return ServerThread(app)  # started by `with`


def test_a_fill_arrives_by_postback_alone(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock, poll=None)  # no polling, no ticker: postbacks only
    om = make_om(broker, clock)
    with _receiver(_service(broker)) as rx:
        fake.postback_url = rx.url + postbacks.PATH
        o = om.place(intent(Side.BUY, 65, 101.0))
        om.drain()
        fake.set_price(fake.placed_forms[-1]["tradingsymbol"], 100.0)  # the market comes to the order: it fills
        deadline = time.monotonic() + 5
        while o.state is not S.FILLED and time.monotonic() < deadline:
            time.sleep(0.02)
            om.drain()
    assert o.state is S.FILLED and o.filled_qty == 65 and o.avg_price == 100.0
    assert fake.postbacks and set(fake.postbacks) == {200}
    assert broker.counters["updates_push"] >= 1


def test_wrong_or_missing_checksum_and_other_brokers_are_refused(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock, poll=None)
    order = {"order_id": "1001", "order_timestamp": "2026-12-04 09:30:00", "status": "COMPLETE"}
    good = order | {"checksum": postback_checksum(order, API_SECRET)}
    with _receiver(_service(broker)) as rx:
        url = rx.url + postbacks.PATH
        assert httpx.post(url, json=order | {"checksum": postback_checksum(order, "another-secret")}).status_code == 403
        assert httpx.post(url, json=order).status_code == 422
        r = httpx.post(url, content=b"not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and API_SECRET not in r.text
    with _receiver(_service(broker, "paper")) as rx:
        assert httpx.post(rx.url + postbacks.PATH, json=good).status_code == 404
    with _receiver(_service(broker), secret=None) as rx:
        assert httpx.post(rx.url + postbacks.PATH, json=good).status_code == 409
    assert broker.counters["updates_push"] == 0
