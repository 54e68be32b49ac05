"""The gateway on Dhan and Shoonya (their fakes, the adapters' real login and HTTP code) through
the real Redis: a validated signal becomes one order at the broker and its answer; a gateway
that died after the order left but before it acknowledged the command is replaced by a fresh
one (new adapter on the same tag file, the same consumer name): the command comes again, the
order is found in the broker's book by its tag and answered from it — never sent twice.
(Kite, as a subprocess killed with -9: test_bus_gateway_live.py.)"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import pytest

from fakes.rigs import CALL, LOT, open_rig, reopen_broker
from optrunner.bus import messages as m
from optrunner.bus.gateway import Gateway
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.core.clock import SimClock
from optrunner.core.orders import Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderType, Side, Tag
from optrunner.execution.brokers.base import BrokerEventKind as K

pytestmark = pytest.mark.services


def answers(bus: StreamBus, origin: str) -> dict[int, list]:
    return {a.seq: [e.event() for e in a.events] for _, a in bus.read_all("orders.updates")
            if isinstance(a, m.Answer) and a.origin == origin}  # fmt: skip


@pytest.mark.parametrize("name", ["dhan", "shoonya"])
def test_a_gateway_replaced_between_submit_and_ack_sends_nothing_twice(tmp_path: Path, redis_url: str, name: str) -> None:
    start = datetime.now(IST).replace(microsecond=0)
    rig = open_rig(name, tmp_path, SimClock(start))
    bus = StreamBus(connect(redis_url), Topics(name, f"t-gwb-{uuid.uuid4().hex[:6]}"))
    after = None
    try:
        rig.fake.fill_at_limit = True
        orders = [Order(f"GW{name.upper()}{i}", "LIVE1", Tag.ENTRY, CALL, Side.SELL, LOT, OrderType.LIMIT, 100.0,
                        created_ts=start) for i in (1, 2)]  # fmt: skip
        cmds = [m.Submit("strat-1", i + 1, start, m.OrderMsg.of(o)) for i, o in enumerate(orders)]
        first = Gateway(bus, rig.broker, SimClock(), consumer="gateway-1")
        bus.publish("signals.validated", cmds[0])
        assert first.run_once(block_ms=1000) == 1
        got = answers(bus, "strat-1")[1]
        assert [e.kind for e in got] == [K.ACK, K.FILL] and rig.places() == 1
        # the second order leaves for the broker; the gateway dies before it acknowledges the command
        bus.publish("signals.validated", cmds[1])
        [d] = first.consumer.poll(block_ms=1000)  # delivered to gateway-1: pending in its name
        rig.broker.submit(d.msg.order.order())
        assert rig.places() == 2 and 2 not in answers(bus, "strat-1")
        clock = SimClock()  # the restarted process: a new adapter on the same tag file, the gateway's clock
        after = reopen_broker(rig, clock)
        second = Gateway(bus, after, clock, consumer="gateway-1")
        assert second.run_once(block_ms=1000) == 1
        got = answers(bus, "strat-1")[2]
        mine = [e.kind for e in got if e.client_id == orders[1].client_id]
        assert mine[0] is K.ACK and set(mine) <= {K.ACK, K.FILL}
        assert rig.places() == 2 and len(rig.order_ids()) == 2  # one broker order per signal
        assert second.consumer.pending() == 0 and bus.read_all("gateway.dlq") == []
        st = m.decode_status(bus.client.hget(second.books.statuses, orders[1].client_id)).status()
        assert st.broker_id is not None and st.client_id == orders[1].client_id  # the book in Redis for the kernel
    finally:
        if after is not None:
            after.close()  # type: ignore[attr-defined]
        rig.close()
        bus.reset()
