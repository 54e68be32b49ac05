"""ChainAnalyzer scores against hand-computed values (seed 001's table, REFERENCE_SYSTEMS §2.2-3).

Chain: NIFTY spot 25010, expiry 2026-11-17; ATM = 25000; ATM range = 1.5 % x 25000 = 375.
CE candidates with max_otm 2: 25000, 25050, 25100 (each worked out in CE_ROWS' comments).
"""

from __future__ import annotations

import copy
import math
from datetime import date, time

import pytest
from _dnss_support import at

from optrunner.config.kinds import MomentumBuyerSection
from optrunner.core.types import Right
from optrunner.data.snapshot import ChainSnapshot
from optrunner.strategies.chain_analyzer import ChainAnalyzer

EXPIRY = date(2026, 11, 17)
# strike: (ltp, bid, ask, oi, volume, |delta|, iv)
CE_ROWS = {
    24950.0: (130.0, 129.5, 130.5, 2e6, 1e5, 0.60, 0.14),  # ITM: not on the OTM side, never a candidate
    # 25000: ATM 100 x 0.7 (ITM, 25000 < 25010) = 70; OI 1.2M 50 (spread 1 %: no penalty);
    #        delta .52 30; IV 14 % 15; 100/.52 = 192 10                                        -> 175
    25000.0: (100.0, 99.5, 100.5, 1.2e6, 1e5, 0.52, 0.14),
    # 25050: 50/375 = .133 -> 80; OI 600k 40 x 0.8 (spread 2/80 = 2.5 %) = 32; delta .45 25;
    #        IV 18 % 20; 80/.45 = 178 10                                                       -> 167
    25050.0: (80.0, 79.0, 81.0, 6e5, 1e5, 0.45, 0.18),
    # 25100: 100/375 = .267 -> 80; OI 200k 30; delta .38 20; IV 8 % 10 (no bonus: not near ATM);
    #        60/.38 = 158 10                                                                   -> 150
    25100.0: (60.0, 59.7, 60.3, 2e5, 1e5, 0.38, 0.08),
    25150.0: (45.0, 44.8, 45.2, 2e5, 1e5, 0.30, 0.18),  # 3 strikes out: beyond max_otm
}


def snapshot(rows=CE_ROWS, spot: float = 25010.0, ts=None) -> ChainSnapshot:
    out = []
    for strike, (ltp, bid, ask, oi, vol, delta, iv) in rows.items():
        out.append(dict(strike=strike, expiry=EXPIRY, option_type="CE", ltp=ltp, bid=bid, ask=ask, oi=oi,
                        volume=vol, delta=delta, iv=iv))  # fmt: skip
        out.append(dict(strike=strike, expiry=EXPIRY, option_type="PE", ltp=50.0, bid=49.9, ask=50.1, oi=2e5,
                        volume=1e5, delta=delta - 1, iv=iv))  # fmt: skip
    return ChainSnapshot.from_quotes("NIFTY", ts or at(10, 0), spot, out)


def test_scores_match_the_hand_computed_values():
    a = ChainAnalyzer(MomentumBuyerSection(), "NIFTY")
    picks = a.candidates(snapshot(), EXPIRY, Right.CE, time(10, 0))
    assert [(p.contract.strike, p.score) for p in picks] == [(25000.0, 175.0), (25050.0, 167.0), (25100.0, 150.0)]
    assert picks[0].parts == {"atm": 70.0, "liquidity": 50.0, "delta_points": 30.0, "iv_points": 15.0,
                              "efficiency": 10.0}  # fmt: skip
    assert picks[1].parts["liquidity"] == pytest.approx(32.0) and picks[1].spread_pct == pytest.approx(2.5)
    assert a.pick(snapshot(), EXPIRY, Right.CE, time(10, 0)).contract.id == "NIFTY:20261117:25000:CE"


def test_filters_premium_band_oi_and_the_time_of_day_delta_floor():
    rows = copy.deepcopy(CE_ROWS)
    rows[25100.0] = (60.0, 59.7, 60.3, 9e4, 1e5, 0.38, 0.08)  # OI under NIFTY's 100k
    rows[25050.0] = (125.0, 124.0, 126.0, 6e5, 1e5, 0.45, 0.18)  # above NIFTY's 30-120 band
    a = ChainAnalyzer(MomentumBuyerSection(), "NIFTY")
    assert [p.contract.strike for p in a.candidates(snapshot(rows), EXPIRY, Right.CE, time(10, 0))] == [25000.0]
    assert [a.delta_floor(t) for t in (time(9, 15), time(11, 0), time(13, 30), time(14, 0))] == [0.08, 0.10, 0.12, 0.15]
    assert ChainAnalyzer(MomentumBuyerSection(), "BANKNIFTY").delta_floor(time(9, 30)) == 0.10  # index minimum
    # at 14:00 the floor is 0.15: a 0.12-delta option is out
    rows[25000.0] = (100.0, 99.5, 100.5, 1.2e6, 1e5, 0.12, 0.14)
    assert a.candidates(snapshot(rows), EXPIRY, Right.CE, time(14, 0)) == []
    loose = ChainAnalyzer(MomentumBuyerSection(premium_max=130.0, min_oi=50_000.0), "NIFTY")
    assert len(loose.candidates(snapshot(CE_ROWS | {25100.0: rows[25100.0]}), EXPIRY, Right.CE, time(10, 0))) == 3


def test_low_iv_bonus_near_atm_and_weights_are_config():
    rows = copy.deepcopy(CE_ROWS)
    rows[25000.0] = (100.0, 99.5, 100.5, 1.2e6, 1e5, 0.52, 0.08)  # IV 8 %: band 5-40 10 + near-ATM bonus 5
    a = ChainAnalyzer(MomentumBuyerSection(), "NIFTY")
    assert a.pick(snapshot(rows), EXPIRY, Right.CE, time(10, 0)).parts["iv_points"] == 15.0
    heavy = ChainAnalyzer(MomentumBuyerSection(atm_tiers=((0.1, 0.0), (0.3, 500.0))), "NIFTY")
    assert heavy.pick(snapshot(), EXPIRY, Right.CE, time(10, 0)).contract.strike == 25050.0


def test_ties_break_by_distance_then_strike_and_the_pe_side_goes_down():
    rows = {25000.0: (100.0, 99.5, 100.5, 1.2e6, 1e5, 0.52, 0.14), 25050.0: (100.0, 99.5, 100.5, 1.2e6, 1e5, 0.52, 0.14)}
    a = ChainAnalyzer(MomentumBuyerSection(atm_tiers=((1.0, 50.0),), itm_factor=1.0), "NIFTY")
    assert [p.contract.strike for p in a.candidates(snapshot(rows), EXPIRY, Right.CE, time(10, 0))] == [25000.0, 25050.0]
    pe = a.candidates(snapshot(CE_ROWS, spot=25060.0), EXPIRY, Right.PE, time(10, 0))
    assert [p.contract.strike for p in pe] == [25050.0, 25000.0, 24950.0]  # ATM 25050, then lower strikes
    assert all(math.isfinite(p.score) for p in pe)
