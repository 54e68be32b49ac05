"""Issue 11, defects 4 and 5: a halt flattens, whoever halts; a raising risk engine halts too."""

from __future__ import annotations

from _dnss_support import at, chain
from _reliability_support import ChoosyExchange, dnss_kernel

from optrunner.core.types import OrderState, Right, Tag
from optrunner.risk import RiskSettings


def venue(broker, strategy="T_DNSS"):
    return {c.id: q for (s, c), q in broker.net_positions.items() if s == strategy and q}


def drive(kernel, spots):
    for k, spot in enumerate(spots):
        kernel.on_chain(chain(at(9, 30 + k), spot))


def test_unknown_order_halts_and_the_other_legs_are_closed(tmp_path, invariants):
    kernel, broker = dnss_kernel(tmp_path, lambda clock: ChoosyExchange(clock, hide=lambda o: o.tag is Tag.ADJUST_EXIT))
    drive(kernel, [25000.0, 25000.0, 25400.0, 25400.0, 25400.0, 25400.0])
    adjust = [o for o in kernel.om.orders() if o.tag is Tag.ADJUST_EXIT]
    assert len(adjust) == 1 and kernel.om.is_unknown(adjust[0].client_id)
    assert kernel.om.is_halted("T_DNSS") and "T_DNSS" in kernel.runner.get_status()["halted"]
    # the leg the adjustment did not touch was flattened; the venue holds nothing
    flatten = [o for o in kernel.om.orders() if o.reason.startswith("FLATTEN")]
    assert flatten and all(o.state is OrderState.FILLED for o in flatten), flatten
    assert {o.contract.right for o in flatten} == {Right.CE, Right.PE} - {adjust[0].contract.right}
    assert venue(broker) == {}
    invariants(kernel)


def test_hold_and_alert_keeps_the_legs_and_says_so(tmp_path):
    kernel, broker = dnss_kernel(tmp_path, lambda clock: ChoosyExchange(clock, hide=lambda o: o.tag is Tag.ADJUST_EXIT),
                                 risk=RiskSettings(on_halt="hold_and_alert"))  # fmt: skip
    drive(kernel, [25000.0, 25000.0, 25400.0, 25400.0, 25400.0, 25400.0])
    assert kernel.om.is_halted("T_DNSS")
    assert not [o for o in kernel.om.orders() if o.reason.startswith("FLATTEN")]
    assert len(venue(broker)) == 1
    assert any("hold_and_alert" in a.message and a.level == "critical" for a in kernel.alerts)


def test_raising_risk_engine_rejects_on_record_halts_and_flattens(tmp_path, invariants):
    kernel, broker = dnss_kernel(tmp_path, lambda clock: ChoosyExchange(clock))
    drive(kernel, [25000.0])
    assert len(venue(broker)) == 2
    real = kernel.risk.check

    def broken(intent, view):
        if intent.tag is Tag.ADJUST_EXIT:
            raise RuntimeError("risk engine bug")
        return real(intent, view)

    kernel.risk.check = broken  # type: ignore[method-assign]
    drive(kernel, [25000.0, 25400.0, 25400.0])
    rejected = [o for o in kernel.om.orders() if o.tag is Tag.ADJUST_EXIT]
    assert rejected and all(o.state is OrderState.REJECTED for o in rejected)
    assert "RISK_ERROR" in rejected[0].reason and "risk engine bug" in rejected[0].reason
    assert kernel.om.is_halted("T_DNSS") and "T_DNSS" in kernel.runner.get_status()["halted"]
    assert venue(broker) == {} and kernel.portfolio.positions("T_DNSS") == []
    invariants(kernel)


def test_a_strategy_halted_before_a_restart_is_flattened_at_the_next_input_not_during_restore(tmp_path, invariants):
    import json

    from optrunner.live.recovery import kernel_state, restore_kernel

    kernel, broker = dnss_kernel(tmp_path, lambda clock: ChoosyExchange(clock))
    drive(kernel, [25000.0])
    state = json.loads(json.dumps(kernel_state(kernel)))
    state["om"]["halted"] = {"T_DNSS": "test"}
    state["halted_strategies"] = {"T_DNSS": "test"}
    again, _ = dnss_kernel(tmp_path, lambda clock: broker)
    again.clock.advance(kernel.clock.now())
    restore_kernel(again, state)
    assert len(again.om.orders()) == len(kernel.om.orders())  # nothing sent while restoring
    assert "T_DNSS" in again.safety.pending
    again.on_chain(chain(at(9, 31), 25000.0))
    assert venue(broker) == {} and again.portfolio.positions() == []
    invariants(again)
