"""The official ``dhanhq`` SDK (2.3) against our fake DhanHQ server: its real request code
places, reads, modifies and cancels, so the fake is checked to speak what Dhan's own client
sends and reads — and our adapter's placement body carries exactly the SDK's fields.

The adapter itself does not use the SDK (docs/brokers.md says why); this test keeps the two
honest. Skipped, loudly, only when the optional SDK is not installed (``pip install dhanhq``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.rigs import CALL, LOT, Rig, open_rig
from optrunner.core.orders import Order
from optrunner.core.types import OrderType, Side, Tag

dhanhq = pytest.importorskip("dhanhq", reason="the optional dhanhq SDK is not installed (pip install dhanhq)")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = open_rig("dhan", tmp_path)
    yield r
    r.close()


def sdk(rig: Rig):  # type: ignore[no-untyped-def]
    client = dhanhq.dhanhq(dhanhq.DhanContext(rig.fake.client_id, rig.fake.access_token))
    client.dhan_http.base_url = rig.server.url + "/v2"
    return client


def test_the_sdk_places_reads_modifies_and_cancels_against_the_fake(rig: Rig) -> None:
    d = sdk(rig)
    placed = d.place_order(security_id="35001", exchange_segment="NSE_FNO", transaction_type="SELL", quantity=LOT,
                           order_type="LIMIT", product_type="MARGIN", price=101.5, tag="SDK-TAG-1")  # fmt: skip
    assert placed["status"] == "success", placed
    oid = placed["data"]["orderId"]
    by_tag = d.get_order_by_correlationID("SDK-TAG-1")
    assert by_tag["status"] == "success" and by_tag["data"]["orderId"] == oid
    assert by_tag["data"]["orderStatus"] == "PENDING" and by_tag["data"]["tradingSymbol"].startswith("NIFTY-")
    mod = d.modify_order(oid, "LIMIT", "", LOT, 102.0, 0, 0, "DAY")
    assert mod["status"] == "success" and rig.fake.orders[oid]["price"] == 102.0
    rig.fake.fill(oid, LOT, 102.0)
    assert [t["tradedQuantity"] for t in d.get_trade_book(oid)["data"]] == [LOT]
    assert d.get_positions()["data"][0]["netQty"] == -LOT
    assert d.cancel_order(oid)["status"] == "failure"  # traded: Dhan refuses, the SDK reports the error
    assert d.get_fund_limits()["status"] == "success"


def test_our_placement_body_has_the_sdks_fields(rig: Rig) -> None:
    d = sdk(rig)
    d.place_order(security_id="35001", exchange_segment="NSE_FNO", transaction_type="SELL", quantity=LOT,
                  order_type="LIMIT", product_type="MARGIN", price=101.5, tag="SDK-TAG-2")  # fmt: skip
    rig.broker.submit(Order("STRANGLE-000001", "STRANGLE", Tag.ENTRY, CALL, Side.SELL, LOT, OrderType.LIMIT, 101.5))
    theirs, ours = rig.fake.placed()
    assert set(ours) == set(theirs) - {"boProfitValue", "boStopLossValue"}  # bracket-order fields: not ours
    same = {k for k in theirs if k not in ("correlationId", "boProfitValue", "boStopLossValue")}
    assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
