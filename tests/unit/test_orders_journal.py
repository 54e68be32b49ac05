"""Write-ahead journal: every transition is durable before the broker or a listener sees its effect."""

from __future__ import annotations

from _execution_support import LOT, Harness, intent

from optrunner.core.events import FillEvent, OrderUpdateEvent
from optrunner.core.types import OrderState, OrderType, Side
from optrunner.execution import ExecutionPolicy, Transition
from optrunner.execution.brokers import SimulatedExchange

S = OrderState


class SpyExchange(SimulatedExchange):
    """The real simulated exchange, checking the journal at the moment each request arrives."""

    journal = None  # set by the test
    seen: list[str]

    def _durable(self) -> list[Transition]:
        return [e for e in self.journal.durable if isinstance(e, Transition)]

    def submit(self, order):
        last = [t for t in self._durable() if t.client_id == order.client_id][-1]
        assert last.to_state is S.SUBMITTED, f"submit of {order.client_id} before SUBMITTED was durable"
        assert self.journal.orders[order.client_id].state is S.SUBMITTED
        self.seen.append(f"submit {order.client_id}")
        super().submit(order)

    def cancel(self, client_id):
        reasons = [t.reason for t in self._durable() if t.client_id == client_id]
        assert any(r.startswith("cancel requested") for r in reasons), "cancel reached the broker first"
        self.seen.append(f"cancel {client_id}")
        super().cancel(client_id)

    def modify(self, client_id, limit_price):
        reasons = [t.reason for t in self._durable() if t.client_id == client_id]
        assert any(r.startswith("modify requested") for r in reasons), "modify reached the broker first"
        self.seen.append(f"modify {client_id}")
        super().modify(client_id, limit_price)


def _harness(**kw) -> Harness:
    h = Harness(exchange_cls=SpyExchange, **kw)
    h.exchange.journal = h.journal
    h.exchange.seen = []

    published: dict[str, int] = {}

    def listener(event):
        durable = h.journal.durable
        if isinstance(event, FillEvent):
            assert event.fill in durable, "fill handed to a listener before it was durable"
        if isinstance(event, OrderUpdateEvent):  # the k-th update is the k-th transition, durable
            cid = event.order.client_id
            k = published[cid] = published.get(cid, 0) + 1
            ts = [e for e in durable if isinstance(e, Transition) and e.client_id == cid]
            assert len(ts) >= k and ts[k - 1].to_state is event.order.state

    h.om.add_listener(listener)
    return h


def test_submit_and_fill_are_journaled_before_they_are_acted_on():
    h = _harness()
    o = h.place(intent(Side.BUY))
    assert o.state is S.FILLED
    assert h.exchange.seen == [f"submit {o.client_id}"]
    kinds = [type(e).__name__ for e in h.journal.entries]
    # creation (its transition carries the order's row), send, ack, then the fill before FILLED
    assert kinds == ["Transition", "Transition", "Transition", "Fill", "Transition"]
    assert h.journal.transitions[0].from_state is None
    assert h.journal.orders[o.client_id].state is S.FILLED  # each transition carries the row


def test_cancel_and_modify_are_journaled_first():
    h = _harness(policy=ExecutionPolicy(timeout_seconds=10, on_timeout="reprice", max_reprices=1))
    o = h.place(intent(Side.BUY, order_type=OrderType.LIMIT, limit=140.0))  # ask 151: rests
    assert o.state is S.ACCEPTED
    h.at(10, c25000=(150.0, 151.0, 150.5, 0.0, 0.0))  # timeout: reprice to the ask (no size shown)
    assert o.limit_price == 154.0  # 151 x 1.02 = 154.02, down to the tick
    h.at(20, c25000=(150.0, 151.0, 150.5, 0.0, 0.0))  # out of reprices: cancel
    assert o.state is S.CANCELLED
    assert h.exchange.seen == [f"submit {o.client_id}", f"modify {o.client_id}", f"cancel {o.client_id}"]


def test_batch_is_one_group_commit_before_all_its_requests():
    h = _harness()
    flushes = h.journal.flushes
    with h.om.batch():
        orders = [h.om.place(intent(Side.BUY, strategy=f"s{k}")) for k in range(10)]
        assert h.exchange.seen == []  # nothing leaves before the commit
    assert h.journal.flushes == flushes + 1
    assert h.exchange.seen == [f"submit {o.client_id}" for o in orders]
    h.om.drain()
    assert all(o.state is S.FILLED for o in orders)


def test_one_flush_covers_a_drained_batch_of_answers():
    h = _harness()
    with h.om.batch():
        for k in range(5):
            h.om.place(intent(Side.BUY, strategy=f"s{k}"))
    before = h.journal.flushes
    h.om.drain()  # 5 acks + 5 fills in one outbox batch
    assert h.journal.flushes == before + 1
    assert len(h.journal.fills) == 5


def test_order_updates_are_snapshots_not_the_live_order():
    h = Harness()
    o = h.place(intent(Side.BUY, quantity=LOT))
    states = [e.order.state for e in h.events if isinstance(e, OrderUpdateEvent) and e.order.client_id == o.client_id]
    assert states == [S.NEW, S.SUBMITTED, S.ACCEPTED, S.FILLED]  # the live order would read FILLED 4x
