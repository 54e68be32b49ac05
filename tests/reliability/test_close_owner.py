"""Issue 11, defect 1: a rejected entry leg must not be closed twice (router unwind + DNSS exit)."""

from __future__ import annotations

from _dnss_support import at, chain
from _reliability_support import ChoosyExchange, dnss_kernel, net_positions

from optrunner.core.orders import OrderIntent
from optrunner.core.types import OrderState, Right, Side, Tag


def test_rejected_entry_leg_is_closed_once(tmp_path, invariants):
    kernel, broker = dnss_kernel(
        tmp_path, lambda clock: ChoosyExchange(clock, lambda o: o.tag is Tag.ENTRY and o.contract.right is Right.PE)
    )
    kernel.on_chain(chain(at(9, 30), 25000.0))
    for minute in range(31, 40):
        kernel.on_chain(chain(at(9, minute), 25000.0))
    # the venue's truth: nothing held (the unwind bought back the filled CE exactly once)
    assert not any(broker.net_positions.values()), broker.net_positions
    assert net_positions(kernel) == {}
    buys = [o for o in kernel.om.orders() if o.side is Side.BUY and o.filled_qty]
    assert len(buys) == 1 and buys[0].tag is Tag.UNWIND, buys
    # the strategy's own close was refused on the record, with why, and nothing else went wrong
    refused = [o for o in kernel.om.orders() if o.state is OrderState.REJECTED and o.tag is Tag.EXIT]
    assert refused and all("ALREADY_CLOSING" in o.reason for o in refused), refused
    assert not kernel.runner.get_status()["halted"]
    invariants(kernel)


def test_an_exit_never_flips_a_position(tmp_path, invariants):
    kernel, broker = dnss_kernel(tmp_path, lambda clock: ChoosyExchange(clock, lambda o: False))
    kernel.on_chain(chain(at(9, 30), 25000.0))
    held = kernel.portfolio.positions("T_DNSS")
    assert len(held) == 2
    ce = next(p for p in held if p.contract.right is Right.CE)
    # ask to buy back twice the short: only the short is bought back
    kernel.process_intents("T_DNSS", [OrderIntent("T_DNSS", Tag.EXIT, ce.contract, Side.BUY, 2 * abs(ce.quantity))])
    kernel.om.drain()
    assert kernel.portfolio.position("T_DNSS", ce.contract).quantity == 0
    # and an exit for a flat contract is refused, not sent
    kernel.process_intents("T_DNSS", [OrderIntent("T_DNSS", Tag.EXIT, ce.contract, Side.BUY, 65)])
    last = kernel.om.orders("T_DNSS")[-1]
    assert last.state is OrderState.REJECTED and last.reason.startswith("NOTHING_TO_CLOSE"), last
    assert broker.net_positions[("T_DNSS", ce.contract)] == 0
    invariants(kernel)


def test_the_guard_counts_fills_not_yet_published():
    """A strategy reacting to one answer of a batch sees a portfolio that lags the order book:
    a close filled later in the same batch must still count."""
    from types import SimpleNamespace

    from _dnss_support import EXPIRY

    from optrunner.execution.close_guard import guard_exit
    from optrunner.instruments.contracts import OptionContract

    ce = OptionContract("NIFTY", EXPIRY, 25000.0, Right.CE)
    portfolio = SimpleNamespace(position=lambda s, c: SimpleNamespace(quantity=-65))
    om = SimpleNamespace(open_orders=lambda s: [], unpublished_qty=lambda s, c: 65)  # bought back, unpublished
    leg, why = guard_exit(OrderIntent("s", Tag.EXIT, ce, Side.BUY, 65), portfolio, om)
    assert leg is None and why.startswith("NOTHING_TO_CLOSE")
