"""The order manager with the real SQLite store as its journal: what the broker is sent is
already committed (seen from a second connection), and the store ends up matching the OM."""

from __future__ import annotations

from _execution_support import LOT, T0, chain, intent

from optrunner.core.clock import SimClock
from optrunner.core.events import FillEvent
from optrunner.core.orders import Basket
from optrunner.core.types import LegRole, OrderState, Side
from optrunner.execution import OrderManager, Router
from optrunner.execution.brokers import SimulatedExchange
from optrunner.store import Store

S = OrderState


class CommittedFirstExchange(SimulatedExchange):
    reader: Store

    def submit(self, order):
        events = self.reader.load_order_events(order.client_id)
        assert events and events[-1].to_state is S.SUBMITTED, "order sent before its SUBMITTED was committed"
        super().submit(order)


def test_store_journal_is_written_ahead_and_matches_the_order_manager(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    store = Store(url, batch_size=1_000_000)  # only the order manager's flushes commit
    store.create_schema()
    reader = Store(url)
    clock = SimClock(T0)
    exchange = CommittedFirstExchange(clock)
    exchange.reader = reader
    om = OrderManager(exchange, clock, journal=store)
    router = Router(om)
    snap = chain()
    exchange.on_snapshot(snap)
    om.on_snapshot(snap)
    fills_seen = []
    om.add_listener(lambda e: fills_seen.append(e.fill.fill_id) if isinstance(e, FillEvent) else None)

    router.submit(intent(Side.SELL, 2600))  # two freeze slices
    router.submit_basket(
        Basket([intent(Side.SELL, 2 * LOT, leg="main"), intent(Side.BUY, 2 * LOT, 25200.0, leg="h", role=LegRole.HEDGE)])
    )
    om.drain()

    stored = {o.client_id: o for o in reader.load_orders()}
    assert set(stored) == {o.client_id for o in om.orders()}
    for o in om.orders():
        s = stored[o.client_id]
        assert (s.state, s.filled_qty, s.avg_price, s.limit_price, s.parent_id, s.basket_id) == (
            o.state, o.filled_qty, o.avg_price, o.limit_price, o.parent_id, o.basket_id
        )
        states = [e.to_state for e in reader.load_order_events(o.client_id)]
        assert states == [S.NEW, S.SUBMITTED, S.ACCEPTED, S.FILLED]
    assert [f.fill_id for f in reader.load_fills()] == fills_seen
    store.close()
    reader.close()
