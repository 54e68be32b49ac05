"""A flatten (a halt, the kill switch, the API's emergency stop) closes short legs — the
main legs of a short-premium book — before the long hedges, so the book is never left
holding a naked short while it unwinds."""

from __future__ import annotations

from dataclasses import replace

from _dnss_support import at, chain
from _reliability_support import ChoosyExchange, dnss_kernel

from optrunner.core.orders import Fill
from optrunner.core.types import Side, Tag
from optrunner.risk import TradingState


def test_flatten_sends_short_main_legs_before_long_hedges(tmp_path):
    kernel, _broker = dnss_kernel(tmp_path, lambda clock: ChoosyExchange(clock))
    kernel.on_chain(chain(at(9, 30), 25000.0))
    shorts = kernel.portfolio.positions()
    assert len(shorts) == 2 and all(p.quantity < 0 for p in shorts)
    book = "BOOK"  # another book holding hedges booked before its shorts (the list's order)
    legs = []
    for p in shorts:
        step = 100.0 if p.contract.right.value == "CE" else -100.0
        legs.append((replace(p.contract, strike=p.contract.strike + step), Side.BUY, Tag.HEDGE))
    legs += [(p.contract, Side.SELL, Tag.ENTRY) for p in shorts]
    for i, (contract, side, tag) in enumerate(legs):
        kernel.book_fill(Fill(f"b-{i}", f"b-{i}", book, tag, contract, side, 65, 10.0, kernel.clock.now()))
    assert [p.quantity > 0 for p in kernel.portfolio.positions(book)] == [True, True, False, False]
    kernel.risk.kill_switch.set(TradingState.HALTED, source="api", reason="test stop")
    flatten = sorted((o for o in kernel.om.orders(book) if o.reason.startswith("FLATTEN")), key=lambda o: o.client_id)
    assert [o.side for o in flatten] == [Side.BUY, Side.BUY, Side.SELL, Side.SELL]  # shorts back first, hedges last
    assert not kernel.portfolio.positions()
