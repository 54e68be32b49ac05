"""Index-option charges against MARKET_FACTS.md's rates, effective dates and worked example."""

import copy
import json
from datetime import UTC, date, datetime
from importlib import resources

import pytest

from optrunner.core.types import Side
from optrunner.portfolio import ChargeSchedule

SCHEDULE = ChargeSchedule.load()
RAW = json.loads((resources.files("optrunner.portfolio") / "data/charges.json").read_text())
TRADE_DAY = date(2026, 11, 2)


def test_worked_example_of_market_facts_component_by_component():
    # Sell 65 NIFTY @ 100, buy back 65 @ 80 on 2026-11-02 (NSE).
    sell = SCHEDULE.charges_for_fill(
        "NSE", Side.SELL, 65, 100.0, TRADE_DAY, first_fill_of_order=True
    )
    buy = SCHEDULE.charges_for_fill("NSE", Side.BUY, 65, 80.0, TRADE_DAY, first_fill_of_order=True)
    # Hand values: turnover 6,500 + 5,200 = 11,700.
    assert sell.brokerage + buy.brokerage == 40.0
    assert sell.stt == pytest.approx(9.75) and buy.stt == 0.0  # 0.15 % x 6,500, sell side only
    assert sell.exchange + buy.exchange == pytest.approx(4.09851)  # 0.03503 % x 11,700 (unrounded)
    assert round(sell.exchange + buy.exchange, 4) == 4.0985
    assert sell.sebi + buy.sebi == pytest.approx(0.0117)
    assert buy.stamp == pytest.approx(0.156) and sell.stamp == 0.0  # 0.003 % x 5,200, buy side only
    assert sell.ipft + buy.ipft == pytest.approx(0.0585)
    assert sell.gst + buy.gst == pytest.approx(0.18 * (40 + 4.09851 + 0.0117))  # 7.9398378
    assert round(sell.gst + buy.gst, 4) == 7.9398
    total = sell.total + buy.total
    assert total == pytest.approx(62.0145478)
    assert round(total, 2) == 62.01
    assert round(65 * (100 - 80) - total, 2) == 1237.99


@pytest.mark.parametrize(
    "day, stt_pct, exch_pct",
    [
        (date(2023, 4, 1), 0.0625, 0.0495),
        (date(2024, 9, 30), 0.0625, 0.0495),
        (date(2024, 10, 1), 0.1, 0.03503),
        (date(2026, 3, 31), 0.1, 0.03503),
        (date(2026, 4, 1), 0.15, 0.03503),
    ],
)
def test_nse_rates_switch_exactly_at_their_effective_dates(day, stt_pct, exch_pct):
    c = SCHEDULE.charges_for_fill("NSE", "SELL", 1000, 100.0, day, first_fill_of_order=False)
    turnover = 100_000.0
    assert c.stt == pytest.approx(stt_pct / 100 * turnover)
    assert c.exchange == pytest.approx(exch_pct / 100 * turnover)
    assert c.brokerage == 0.0 and c.stamp == 0.0


@pytest.mark.parametrize(
    "day, pct", [(date(2024, 10, 1), 0.125), (date(2026, 3, 31), 0.125), (date(2026, 4, 1), 0.15)]
)
def test_exercise_stt_switches_at_its_effective_date(day, pct):
    c = SCHEDULE.settlement_charges("NSE", Side.SELL, 65, 30.0, day)
    assert c.stt == pytest.approx(pct / 100 * 30.0 * 65)


def test_datetime_trade_date_is_taken_in_ist():
    # 2024-09-30 19:00 UTC is 2024-10-01 00:30 IST: the new rates apply.
    ts = datetime(2024, 9, 30, 19, 0, tzinfo=UTC)
    c = SCHEDULE.charges_for_fill("NSE", "SELL", 1000, 100.0, ts, first_fill_of_order=False)
    assert c.stt == pytest.approx(100.0)


def test_trades_before_the_first_known_rate_are_refused_not_guessed():
    with pytest.raises(
        ValueError,
        match=r"no NSE transaction charge known before 2023-04-01 \(trade date 2023-03-31\)",
    ):
        SCHEDULE.charges_for_fill(
            "NSE", "SELL", 65, 100.0, date(2023, 3, 31), first_fill_of_order=True
        )
    with pytest.raises(ValueError, match=r"BSE transaction charge.*before 2024-10-01"):
        SCHEDULE.charges_for_fill(
            "BSE", "BUY", 20, 100.0, date(2024, 9, 30), first_fill_of_order=True
        )


def test_bse_uses_its_own_transaction_charge_and_no_ipft():
    day = date(2025, 1, 10)
    nse = SCHEDULE.charges_for_fill("NSE", "BUY", 1000, 100.0, day, first_fill_of_order=True)
    bse = SCHEDULE.charges_for_fill("bse", "BUY", 1000, 100.0, day, first_fill_of_order=True)
    assert nse.exchange == pytest.approx(35.03)
    assert bse.exchange == pytest.approx(32.50)
    assert nse.ipft == pytest.approx(0.5) and bse.ipft == 0.0
    assert bse.gst == pytest.approx(0.18 * (20 + 32.50 + 0.1))
    assert bse.stamp == nse.stamp == pytest.approx(3.0)


def test_gst_on_ipft_is_a_switch_default_off():
    off = SCHEDULE.charges_for_fill("NSE", "SELL", 1000, 100.0, TRADE_DAY, first_fill_of_order=True)
    on_schedule = ChargeSchedule.load(gst_on_ipft=True)
    on = on_schedule.charges_for_fill(
        "NSE", "SELL", 1000, 100.0, TRADE_DAY, first_fill_of_order=True
    )
    assert not SCHEDULE.gst_on_ipft
    assert on.gst - off.gst == pytest.approx(0.18 * 0.5)  # 18 % of IPFT 0.0005 % x 100,000
    raw = copy.deepcopy(RAW)
    raw["gst_on_ipft"] = True
    from_file_switch = ChargeSchedule(raw).charges_for_fill(
        "NSE", "SELL", 1000, 100.0, TRADE_DAY, first_fill_of_order=True
    )
    assert from_file_switch == on


def test_brokerage_is_charged_once_per_order_and_percentages_pro_rata():
    whole = SCHEDULE.charges_for_fill(
        "NSE", "SELL", 130, 100.0, TRADE_DAY, first_fill_of_order=True
    )
    first = SCHEDULE.charges_for_fill("NSE", "SELL", 65, 100.0, TRADE_DAY, first_fill_of_order=True)
    rest = SCHEDULE.charges_for_fill("NSE", "SELL", 65, 100.0, TRADE_DAY, first_fill_of_order=False)
    assert first.brokerage == 20.0 and rest.brokerage == 0.0
    for name in ("brokerage", "stt", "exchange", "sebi", "stamp", "ipft", "gst"):
        assert getattr(first, name) + getattr(rest, name) == pytest.approx(getattr(whole, name))


def test_brokerage_override_and_per_broker_tariff():
    c = SCHEDULE.charges_for_fill(
        "NSE", "BUY", 65, 100.0, TRADE_DAY, first_fill_of_order=True, brokerage=0.0
    )
    assert c.brokerage == 0.0 and c.gst == pytest.approx(0.18 * (c.exchange + c.sebi))
    raw = copy.deepcopy(RAW)
    raw["brokerage"]["flatfee"] = [{"from": "2020-01-01", "per_order": 15.0, "per_settlement": 5.0}]
    sched = ChargeSchedule(raw, broker="FlatFee")
    assert (
        sched.charges_for_fill(
            "NSE", "BUY", 65, 100.0, TRADE_DAY, first_fill_of_order=True
        ).brokerage
        == 15.0
    )
    settle = sched.settlement_charges("NSE", "SELL", 65, 10.0, TRADE_DAY)
    assert settle.brokerage == 5.0 and settle.gst == pytest.approx(0.9)
    with pytest.raises(ValueError, match=r"no brokerage tariff for broker 'nobody'.*default"):
        ChargeSchedule(RAW, broker="nobody")


def test_exercise_stt_only_for_itm_longs_and_no_brokerage_by_default():
    long_itm = SCHEDULE.settlement_charges("NSE", Side.SELL, 65, 120.0, date(2026, 11, 17))
    assert long_itm.stt == pytest.approx(0.0015 * 120.0 * 65)  # 11.70
    assert long_itm.total == pytest.approx(11.70)
    assert SCHEDULE.settlement_charges("NSE", Side.BUY, 65, 120.0, date(2026, 11, 17)).total == 0.0
    assert SCHEDULE.settlement_charges("NSE", Side.SELL, 65, 0.0, date(2026, 11, 17)).total == 0.0
    with_brk = SCHEDULE.settlement_charges(
        "NSE", Side.SELL, 65, 120.0, date(2026, 11, 17), brokerage=20.0
    )
    assert with_brk.brokerage == 20.0 and with_brk.gst == pytest.approx(3.6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"exchange": "MCX"}, "unknown exchange 'MCX'"),
        ({"quantity": 0}, "quantity must be a positive"),
        ({"quantity": 6.5}, "quantity must be a positive"),
        ({"price": -1.0}, "fill price must be a finite price"),
        ({"price": float("nan")}, "fill price must be a finite price"),
        ({"side": "SHORT"}, "SHORT"),
    ],
)
def test_bad_fill_inputs_are_named(kwargs, message):
    args = {
        "exchange": "NSE",
        "side": "BUY",
        "quantity": 65,
        "price": 100.0,
        "trade_date": TRADE_DAY,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SCHEDULE.charges_for_fill(**args, first_fill_of_order=True)


def test_bad_schedule_reports_every_problem_with_its_path():
    raw = copy.deepcopy(RAW)
    raw["stt_sell_pct"][0]["rate_pct"] = -1
    raw["gst_pct"].append(dict(raw["gst_pct"][0]))  # duplicate effective date
    raw["stamp_buy_pct"][0]["typo"] = 1
    with pytest.raises(ValueError) as err:
        ChargeSchedule(raw, source="my_charges.json")
    text = str(err.value)
    assert "my_charges.json" in text
    assert "stt_sell_pct.0.rate_pct" in text
    assert "gst_pct" in text and "share a 'from' date" in text
    assert "stamp_buy_pct.0.typo" in text


def test_exchange_needs_both_tables():
    raw = copy.deepcopy(RAW)
    del raw["ipft_pct"]["BSE"]
    with pytest.raises(ValueError, match=r"\['BSE'\] need both"):
        ChargeSchedule(raw)


def test_user_file_via_environment(tmp_path, monkeypatch):
    raw = copy.deepcopy(RAW)
    raw["stt_sell_pct"].append({"from": "2027-04-01", "rate_pct": 0.2})
    path = tmp_path / "charges.json"
    path.write_text(json.dumps(raw))
    monkeypatch.setenv("OPTRUNNER_CHARGES", str(path))
    sched = ChargeSchedule.load()
    assert sched.source == str(path)
    c = sched.charges_for_fill(
        "NSE", "SELL", 1000, 100.0, date(2027, 4, 1), first_fill_of_order=False
    )
    assert c.stt == pytest.approx(200.0)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read charge schedule"):
        ChargeSchedule.load()


def test_unverified_rates_are_reported_for_the_trade_date():
    assert SCHEDULE.unverified_rates("NSE", date(2025, 1, 10)) == []
    assert set(SCHEDULE.unverified_rates("NSE", TRADE_DAY)) == {
        "STT on option sales",
        "STT on exercise",
    }
    assert "NSE transaction charge" in SCHEDULE.unverified_rates("NSE", date(2024, 1, 10))
