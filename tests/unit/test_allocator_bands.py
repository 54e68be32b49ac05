"""Capital allocator quantities for each balance band, at and just past each band's edge.

Price 100, NIFTY lot 65 (one lot costs 6,500), premium stop 30 % (one lot risks 1,950):
lots = min(floor(balance x alloc x mult / 6,500), floor(balance x risk x mult / 1,950)).
Bands (REFERENCE_SYSTEMS §2.2-5): <= 75k 30 %/5 %; <= 1.5L 25 %/3.5 %; <= 3L 20 %/3 %; above 20 %/2.5 %.
"""

from __future__ import annotations

import pytest

from optrunner.risk.allocator import CapitalAllocator


@pytest.mark.parametrize(("balance", "alloc_lots", "risk_lots", "lots"), [
    (75_000, 3, 1, 1),        # 22,500 / 6,500 = 3.46;  3,750 / 1,950 = 1.92
    (75_001, 2, 1, 1),        # next band: 18,750.25 -> 2; 2,625.04 -> 1
    (150_000, 5, 2, 2),       # 37,500 -> 5; 5,250 -> 2.69
    (150_001, 4, 2, 2),       # 30,000.2 -> 4; 4,500.03 -> 2.31
    (300_000, 9, 4, 4),       # 60,000 -> 9.23; 9,000 -> 4.62
    (300_001, 9, 3, 3),       # 60,000.2 -> 9; 7,500.03 -> 3.85
    (1_000_000, 30, 12, 12),  # 200,000 -> 30.8; 25,000 -> 12.8
])  # fmt: skip
def test_each_band_and_its_edges(balance, alloc_lots, risk_lots, lots):
    s = CapitalAllocator().size(balance, 100.0, 65)
    assert (s.by_alloc_lots, s.by_risk_lots, s.lots, s.quantity) == (alloc_lots, risk_lots, lots, lots * 65)


def test_the_risk_cap_is_whole_lots_never_lot_size_squared():
    s = CapitalAllocator().size(1_000_000, 100.0, 65)
    # the old formula: floor(25,000 / (100 x 0.30)) = 833 *units*, times the lot again = 54,145 units
    assert s.by_risk_lots == 12 and s.quantity == 780 and s.quantity % 65 == 0


def test_integer_multiplier_scales_both_caps_but_never_past_the_balance():
    s = CapitalAllocator().size(300_000, 100.0, 65, multiplier=2)
    assert (s.by_alloc_lots, s.by_risk_lots, s.lots) == (18, 9, 9)  # 120,000 / 6,500; 18,000 / 1,950
    s = CapitalAllocator().size(300_000, 100.0, 65, multiplier=10)
    assert s.by_alloc_lots == 46  # min(600,000, 300,000) / 6,500 = 46.2: capped at the balance
    with pytest.raises(ValueError, match="integer"):
        CapitalAllocator().size(300_000, 100.0, 65, multiplier=1.5)  # type: ignore[arg-type]


def test_one_unaffordable_lot_is_zero_with_a_reason_not_a_forced_lot():
    s = CapitalAllocator().size(30_000, 100.0, 65)  # risk 1,500 < one lot's 1,950
    assert s.quantity == 0 and "risk budget" in s.reason
