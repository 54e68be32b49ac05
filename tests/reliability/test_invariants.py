"""Each invariant is really checked: break it on purpose and it is reported."""

from __future__ import annotations

from _dnss_support import at, chain
from _reliability_support import ChoosyExchange, dnss_kernel

from optrunner.core.invariants import check_invariants
from optrunner.core.orders import Fill, Order, OrderIntent
from optrunner.core.types import Right, Side, Tag


def entered(tmp_path):
    kernel, broker = dnss_kernel(tmp_path, lambda clock: ChoosyExchange(clock))
    kernel.on_chain(chain(at(9, 30), 25000.0))
    assert len(kernel.portfolio.positions()) == 2 and check_invariants(kernel) == []
    return kernel, broker


def rules(kernel):
    return [v.rule for v in check_invariants(kernel)]


def test_a_fill_from_nowhere_leaves_a_position_unexplained(tmp_path):
    kernel, _ = entered(tmp_path)
    pos = kernel.portfolio.positions()[0]
    kernel.portfolio.apply_fill(Fill("ghost", "", pos.strategy, Tag.ENTRY, pos.contract, Side.SELL, 65, 10.0,
                                     kernel.clock.now()))  # fmt: skip
    assert "position_unexplained" in rules(kernel)


def test_an_execution_of_an_order_we_never_made(tmp_path):
    kernel, broker = entered(tmp_path)
    c = kernel.portfolio.positions()[0].contract
    broker.submit(Order("stranger-1", "T_DNSS", Tag.ENTRY, c, Side.SELL, 65))
    assert "fill_without_order" in rules(kernel)


def test_a_duplicate_and_a_silent_rejection(tmp_path):
    kernel, broker = entered(tmp_path)
    broker.accepted[next(iter(broker.accepted))] += 1
    c = kernel.portfolio.positions()[0].contract
    kernel.om.reject_intent(OrderIntent("T_DNSS", Tag.ENTRY, c, Side.SELL, 65), "")
    assert {"duplicate_client_id", "rejection_without_reason"} <= set(rules(kernel))


def test_a_lone_short_leg_the_strategy_does_not_mean_is_unintended(tmp_path):
    kernel, _ = entered(tmp_path)
    dnss = kernel.strategies["T_DNSS"]
    del dnss.book.legs[Right.PE]  # the strategy believes it holds only the CE
    assert rules(kernel) == ["unintended_position"]


def test_a_halted_strategy_still_holding_is_unintended(tmp_path):
    kernel, _ = entered(tmp_path)
    kernel.om._halted["T_DNSS"] = "test"  # halted without the flatten path
    found = check_invariants(kernel)
    assert [v.rule for v in found] == ["unintended_position"] and "halted but holds" in found[0].detail
