"""DNSS retries are paced and bounded: no input makes it loop, budgets are counted apart.

Chains are the closed form of _dnss_support: at spot 25000 the strangle is CE 25150 / PE 24850;
at 25150 the net delta is 0.38 > 0.30, so the untested PE is bought back and replaced.
"""

from __future__ import annotations

import pytest
from _dnss_support import Exchange, at, chain, make_config

from optrunner.core.types import Right, Side, Tag
from optrunner.strategies.base import StrategyHalt
from optrunner.strategies.dnss import DNSS, Phase


def tags(legs):
    return [(leg.tag.value, leg.side.value, leg.contract.right.value) for leg in legs]


def entered(tmp_path, refuse, **overrides):
    s, ex = DNSS(make_config(tmp_path, **overrides)), Exchange()
    ex.step(s, chain(at(9, 30), 25000.0))
    assert s.phase is Phase.ACTIVE
    ex.refuse = refuse
    return s, ex


def test_max_attempts_one_still_adjusts(tmp_path):
    """entry.max_attempts counts entries only: the first replacement is not an "attempt"."""
    s, ex = entered(tmp_path, lambda leg: False, entry__max_attempts=1)
    sent = ex.step(s, chain(at(10, 0), 25150.0))
    assert tags(sent) == [("ADJUST_EXIT", "BUY", "PE"), ("ADJUST_ENTRY", "SELL", "PE")]
    assert s.phase is Phase.ACTIVE and s.adjustments_today == 1 and set(s.legs) == {Right.CE, Right.PE}


def test_refused_replacement_is_retried_on_later_snapshots_then_the_strangle_closes(tmp_path):
    s, ex = entered(
        tmp_path, lambda leg: leg.tag is Tag.ADJUST_ENTRY,
        adjustment__max_replacement_attempts=3,
    )  # fmt: skip
    sent = ex.step(s, chain(at(10, 0), 25150.0))
    assert tags(sent) == [("ADJUST_EXIT", "BUY", "PE"), ("ADJUST_ENTRY", "SELL", "PE")]
    assert s.phase is Phase.ADJUST_ENTRY  # one refusal: nothing more on the same input
    # backoff 5 s, then 10 s: each retry waits for a later snapshot past it
    assert tags(ex.step(s, chain(at(10, 0, 3), 25150.0))) == []
    assert tags(ex.step(s, chain(at(10, 0, 6), 25150.0))) == [("ADJUST_ENTRY", "SELL", "PE")]
    assert tags(ex.step(s, chain(at(10, 0, 12), 25150.0))) == []
    # the third send is refused too: the lone CE is closed at once, never left naked
    assert tags(ex.step(s, chain(at(10, 0, 17), 25150.0))) == [
        ("ADJUST_ENTRY", "SELL", "PE"), ("EXIT", "BUY", "CE"),
    ]  # fmt: skip
    assert s.phase is Phase.DONE and not s.legs and s.exit_reason == "REPLACEMENT_NOT_FILLED"
    assert [leg.tag for leg in ex.sent].count(Tag.ADJUST_ENTRY) == 3


def test_refused_exit_backs_off_and_halts_after_its_budget(tmp_path):
    s, ex = entered(
        tmp_path, lambda leg: leg.tag is Tag.EXIT,
        execution__max_retries=3, execution__retry_backoff_seconds=60,
    )  # fmt: skip
    exits = lambda: sum(1 for leg in ex.sent if leg.tag is Tag.EXIT)  # noqa: E731
    ex.step(s, chain(at(15, 15), 25000.0))
    assert exits() == 2 and s.phase is Phase.EXITING  # one basket, both legs refused, no re-send
    for minute in (16, 17):  # retry 1 is due 60 s later; retry 2 120 s after that (15:18)
        ex.step(s, chain(at(15, minute), 25000.0))
    assert exits() == 4
    ex.step(s, chain(at(15, 18), 25000.0))
    assert exits() == 6
    for minute in (19, 20, 21):
        ex.step(s, chain(at(15, minute), 25000.0))
    assert exits() == 6  # next retry at 15:22 (240 s)
    with pytest.raises(StrategyHalt, match="failed 4 times"):
        ex.step(s, chain(at(15, 22), 25000.0))
    assert exits() == 8 and s.phase is Phase.FAILED and set(s.legs) == {Right.CE, Right.PE}
    assert all(leg.side is Side.BUY for leg in ex.sent if leg.tag is Tag.EXIT)


def test_a_held_leg_without_greeks_in_the_chain_counts_as_stale(tmp_path):
    """A row present but without a delta (LTP 0 in a scrape) must not keep old greeks 'fresh'."""
    s, ex = entered(tmp_path, lambda leg: False)
    assert ex.step(s, chain(at(12, 0), 25000.0)) == []  # fresh greeks at 12:00
    assert ex.step(s, chain(at(12, 1), 25000.0, nan_delta=True)) == []
    assert ex.step(s, chain(at(12, 2), 25000.0, nan_delta=True)) == []  # 120 s: not yet over
    sent = ex.step(s, chain(at(12, 2, 1), 25000.0, nan_delta=True))
    assert tags(sent) == [("EXIT", "BUY", "CE"), ("EXIT", "BUY", "PE")]
    assert s.exit_reason == "STALE_GREEKS" and s.phase is Phase.DONE
