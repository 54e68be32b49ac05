"""The strategy models: the seed's documented defaults, normalisation, immutability."""

from __future__ import annotations

import re
from datetime import date, time

import pytest
from _config_support import edited, good_config, make_chain_db
from pydantic import ValidationError

from optrunner.config import DateRange, StrategyConfig, validate_config
from optrunner.config.advice import advisories
from optrunner.core.types import OrderType, Product


@pytest.fixture
def db(tmp_path):
    return make_chain_db(tmp_path / "NFO_NIFTY.sqlite")


def quick_start(db_path) -> dict:
    """The seed's Quick Start file, verbatim apart from db_path."""
    return {
        "name": "MY_NIFTY_DNSS",
        "enabled": True,
        "market_config": {
            "market_type": "database_market",
            "exchange": "NFO",
            "symbol": "NIFTY",
            "db_path": str(db_path),
        },
        "entry": {
            "entry_time": "09:30",
            "target_ce_delta": 0.30,
            "target_pe_delta": 0.30,
            "quantity": 10,
        },
        "adjustment": {
            "enabled": True,
            "delta_drift_trigger": 0.60,
            "rebalance_target_delta": 0.30,
        },
        "exit": {"exit_time": "15:30", "profit_target": 5000, "max_loss": 2000},
        "execution": {"order_type": "MARKET", "product": "NRML"},
    }


def test_seed_quick_start_file_is_valid_and_gets_the_documented_defaults(db, tmp_path):
    config, issues = validate_config(quick_start(db), tmp_path)
    assert issues == []
    assert config.strategy == "dnss"  # derived from entry_type's default, delta_neutral
    assert (config.description, config.version) == ("", "1.0.0")
    m = config.market_config
    assert (m.market_type, m.feed_url, m.stale_after_seconds) == ("database_market", None, 120)
    e = config.entry
    assert (e.entry_type, e.delta_tolerance, e.max_attempts, e.expiry, e.trade_expiry_day) == (
        "delta_neutral",
        0.05,
        3,
        "weekly",
        False,
    )
    a = config.adjustment
    assert (
        a.adjustment_type,
        a.cooldown_seconds,
        a.max_adjustments_per_day,
        a.max_leg_delta,
        a.profit_step,
    ) == (
        "delta_drift",
        60,
        5,
        0.65,
        None,
    )
    x = config.exit
    assert (x.exit_type, x.trailing_stop_enabled, x.time_exit_override, x.stale_exit_seconds) == (
        "profit_target",
        False,
        True,
        120,
    )
    assert (x.profit_target_percent, x.stop_loss_percent, x.trailing_stop_activation) == (
        None,
        None,
        None,
    )
    ex = config.execution
    assert (
        ex.order_type,
        ex.product,
        ex.price_limit_percent,
        ex.timeout_seconds,
        ex.on_timeout,
    ) == (
        OrderType.MARKET,
        Product.NRML,
        1.0,
        30,
        "reprice",
    )
    r = config.risk_management
    assert r.max_concurrent_legs == 2
    assert (
        r.max_position_size,
        r.max_total_loss,
        r.max_daily_loss,
        r.notional_value_limit,
        r.vega_limit,
        r.gamma_limit,
    ) == (None,) * 6
    mo = config.monitoring
    assert (
        mo.poll_interval_seconds,
        mo.log_enabled,
        mo.log_file,
        mo.alert_enabled,
        mo.alert_webhook,
        mo.metrics_collection,
    ) == (
        2,
        True,
        None,
        True,
        None,
        True,
    )
    assert config.backtesting.is_backtested is False


def test_a_file_without_adjustments_never_adjusts_and_validate_says_so(db, tmp_path):
    doc = edited(quick_start(db), "adjustment")
    config, issues = validate_config(doc, tmp_path)
    assert issues == [] and config.adjustment is None
    assert "never re-balanced" in {i.path: i.message for i in advisories(config)}["adjustment"]


def test_seed_required_fields_only_file_is_valid_with_announced_defaults(db, tmp_path):
    """Seed 000's "Required Fields" example: name, enabled, market_config, entry_time, exit_time."""
    doc = {
        "name": "MINIMAL", "enabled": True,
        "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": str(db)},
        "entry": {"entry_time": "09:30"}, "exit": {"exit_time": "15:00"},
    }  # fmt: skip
    config, issues = validate_config(doc, tmp_path)
    assert issues == []
    assert (config.strategy, config.entry.ce_delta, config.entry.pe_delta, config.entry.lots) == ("dnss", 0.30, 0.30, 1)
    assert {i.path for i in advisories(config)} == {
        "entry.target_ce_delta", "entry.target_pe_delta", "entry.quantity", "adjustment",
    }  # fmt: skip


def test_times_are_datetime_time(db, tmp_path):
    config, _ = validate_config(good_config(db), tmp_path)
    assert config.entry.entry_time == time(9, 30)
    assert config.exit.exit_time == time(15, 15)


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("STOP", OrderType.SL_M),
        ("STOP_LIMIT", OrderType.SL),
        ("sl-m", OrderType.SL_M),
        ("LIMIT", OrderType.LIMIT),
    ],
)
def test_seed_stop_order_names_are_normalised(db, tmp_path, written, sent):
    config, issues = validate_config(
        edited(good_config(db), "execution.order_type", written), tmp_path
    )
    if sent in (OrderType.SL, OrderType.SL_M):  # understood, then refused: no kind sets a trigger
        assert [(i.path, sent.value in i.message) for i in issues] == [("execution.order_type", True)]
        assert "needs a trigger price" in issues[0].message
    else:
        assert issues == []
        assert config.execution.order_type is sent


def test_exchange_and_symbol_case_is_normalised(db, tmp_path):
    doc = edited(
        edited(good_config(db), "market_config.exchange", "nfo"), "market_config.symbol", "nifty"
    )
    config, issues = validate_config(doc, tmp_path)
    assert issues == []
    assert (config.market_config.exchange, config.market_config.symbol) == ("NFO", "NIFTY")


@pytest.mark.parametrize(
    ("written", "parsed"),
    [
        ("weekly", "weekly"),
        ("next_weekly", "next_weekly"),
        ("monthly", "monthly"),
        ("2026-02-17", date(2026, 2, 17)),
    ],
)
def test_expiry_choices(db, tmp_path, written, parsed):
    config, issues = validate_config(edited(good_config(db), "entry.expiry", written), tmp_path)
    assert issues == []
    assert config.entry.expiry == parsed


def test_backtest_dates_are_parsed(db, tmp_path):
    doc = edited(good_config(db), "backtesting.backtest_dates", "2026-01-01 to 2026-01-31")
    config, _ = validate_config(edited(doc, "backtesting.is_backtested", True), tmp_path)
    assert config.backtesting.backtest_dates == DateRange(date(2026, 1, 1), date(2026, 1, 31))


def test_claims_without_is_backtested_are_refused(db, tmp_path):
    doc = edited(good_config(db), "backtesting.backtest_win_rate", 70)
    _, issues = validate_config(doc, tmp_path)
    assert [(i.path, "is_backtested is false" in i.message) for i in issues] == [
        ("backtesting.backtest_win_rate", True)
    ]


def test_models_are_frozen(db, tmp_path):
    config, _ = validate_config(good_config(db), tmp_path)
    with pytest.raises(ValidationError):
        config.entry.quantity = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.name = "OTHER"  # type: ignore[misc]


def test_dump_and_reload_gives_the_same_config(db, tmp_path):
    doc = good_config(db)
    doc["backtesting"] = {
        "is_backtested": True,
        "backtest_dates": "2026-01-01 to 2026-01-31",
        "backtest_win_rate": 72.5,
    }
    doc["monitoring"]["log_file"] = "logs/x.log"
    doc["entry"]["expiry"] = "2026-02-17"
    config, _ = validate_config(doc, tmp_path)
    dumped = config.model_dump(mode="json")
    assert dumped["entry"]["entry_time"] == "09:30"
    assert dumped["backtesting"]["backtest_dates"] == "2026-01-01 to 2026-01-31"
    again, issues = validate_config(dumped, tmp_path / "elsewhere")  # paths were stored absolute
    assert issues == []
    assert again == config


def test_building_the_model_directly_still_enforces_cross_field_rules(db, tmp_path):
    doc = edited(good_config(db), "execution.order_type", "STOP")
    with pytest.raises(
        ValidationError, match=re.escape("execution.order_type: SL-M (STOP / STOP_LIMIT) needs a trigger")
    ):
        StrategyConfig.model_validate(doc)
