"""Every validation rule of the strategy file: one broken value -> exactly one issue, at the
right JSON path, saying what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _config_support import edited, good_config, issues_of, make_chain_db

from optrunner.config import validate_config
from optrunner.config.advice import advisories


def _catalog_without_symbol(tmp: Path) -> str:
    (tmp / "catalog" / "chains" / "symbol=BANKNIFTY").mkdir(parents=True)
    return str(tmp / "catalog")


def _text_file(tmp: Path) -> str:
    (tmp / "chain.csv").write_text("strike,ltp\n25000,120\n")
    return str(tmp / "chain.csv")


def _empty_file(tmp: Path) -> str:
    (tmp / "new.sqlite").touch()
    return str(tmp / "new.sqlite")


def _banknifty_db(tmp: Path) -> str:
    return str(make_chain_db(tmp / "bank.sqlite", symbol="BANKNIFTY"))


def _folder(tmp: Path) -> str:
    (tmp / "logs").mkdir()
    return str(tmp / "logs")


# (id, [(path, value), ...] applied to the good document, issue path, key part of the message)
# A value that is a function is called with tmp_path to build files first.
CASES: list[tuple[str, list[tuple[str, Any]], str, str]] = [
    ("name-empty", [("name", "  ")], "name", "must not be empty"),
    ("name-not-text", [("name", 7)], "name", "must be text"),
    ("enabled-missing", [("enabled", None)], "enabled", "missing required field"),
    ("enabled-yes", [("enabled", "yes")], "enabled", 'must be true or false (got "yes")'),
    ("strategy-unknown", [("strategy", "iron_fly")], "strategy", "must be one of: dnss, momentum"),
    (
        "other-kinds-section",
        [("momentum", {"instruments": ["NIFTY:20260113:25000:CE"]})],
        "momentum",
        "only used by the momentum strategy, not dnss",
    ),
    (
        "stop-order-without-trigger",
        [("execution.order_type", "STOP")],
        "execution.order_type",
        "needs a trigger price",
    ),
    ("unknown-top-level-key", [("enabeld", True)], "enabeld", "did you mean 'enabled'?"),
    (
        "unknown-key-typo",
        [("entry.entrytime", "09:30")],
        "entry.entrytime",
        "did you mean 'entry_time'?",
    ),
    (
        "key-in-wrong-section",
        [("entry.exit_time", "15:00")],
        "entry.exit_time",
        "it belongs at exit.exit_time",
    ),
    ("section-not-object", [("exit", [])], "exit", "must be an object"),
    (
        "market-type-websocket",
        [("market_config.market_type", "websocket")],
        "market_config.market_type",
        "use live_feed_market",
    ),
    (
        "market-type-typo",
        [("market_config.market_type", "databse_market")],
        "market_config.market_type",
        "did you mean database_market?",
    ),
    (
        "exchange-mcx",
        [("market_config.exchange", "MCX")],
        "market_config.exchange",
        "not supported yet",
    ),
    (
        "exchange-cash-segment",
        [("market_config.exchange", "NSE")],
        "market_config.exchange",
        "trade on NFO",
    ),
    (
        "exchange-wrong-segment",
        [("market_config.exchange", "BFO")],
        "market_config.exchange",
        "use NFO",
    ),
    (
        "symbol-unknown",
        [("market_config.symbol", "NIFY")],
        "market_config.symbol",
        "did you mean NIFTY?",
    ),
    (
        "db-path-missing-file",
        [("market_config.db_path", "nowhere/chain.sqlite")],
        "market_config.db_path",
        "does not exist",
    ),
    (
        "db-path-not-sqlite",
        [("market_config.db_path", _text_file)],
        "market_config.db_path",
        "is not a SQLite database",
    ),
    (
        "db-path-empty-file",
        [("market_config.db_path", _empty_file)],
        "market_config.db_path",
        "is empty",
    ),
    (
        "db-path-other-symbol",
        [("market_config.db_path", _banknifty_db)],
        "market_config.db_path",
        "holds the BANKNIFTY chain, not NIFTY",
    ),
    (
        "catalog-without-symbol",
        [("market_config.db_path", _catalog_without_symbol)],
        "market_config.db_path",
        "no chains/symbol=NIFTY folder",
    ),
    (
        "feed-url-on-database-market",
        [("market_config.feed_url", "wss://feed.example/x")],
        "market_config.feed_url",
        "only used by live_feed_market",
    ),
    (
        "feed-url-required",
        [("market_config.market_type", "live_feed_market"), ("market_config.db_path", None)],
        "market_config.feed_url",
        "missing required field",
    ),
    (
        "feed-url-scheme",
        [
            ("market_config.market_type", "live_feed_market"),
            ("market_config.db_path", None),
            ("market_config.feed_url", "http://x/y"),
        ],
        "market_config.feed_url",
        "is not a URL starting with ws:// or wss://",
    ),
    (
        "db-path-on-live-feed",
        [
            ("market_config.market_type", "live_feed_market"),
            ("market_config.feed_url", "ws://127.0.0.1:8765"),
        ],
        "market_config.db_path",
        "only used by database_market",
    ),
    (
        "stale-after-zero",
        [("market_config.stale_after_seconds", 0)],
        "market_config.stale_after_seconds",
        "must be greater than 0",
    ),
    (
        "entry-time-one-digit-hour",
        [("entry.entry_time", "9:30")],
        "entry.entry_time",
        '"9:30" is not HH:MM — write "09:30"',
    ),
    (
        "entry-time-before-open",
        [("entry.entry_time", "09:00")],
        "entry.entry_time",
        "before the 09:15 market open",
    ),
    (
        "entry-time-missing",
        [("entry.entry_time", None)],
        "entry.entry_time",
        "missing required field",
    ),
    (
        "exit-time-after-close",
        [("exit.exit_time", "15:45")],
        "exit.exit_time",
        "after the 15:30 market close",
    ),
    (
        "exit-not-after-entry",
        [("entry.entry_time", "14:00"), ("exit.exit_time", "14:00")],
        "exit.exit_time",
        "must come after the entry",
    ),
    (
        "entry-type-unknown",
        [("entry.entry_type", "iron_condor")],
        "entry.entry_type",
        "must be one of: delta_neutral",
    ),
    (
        "ce-delta-above-one",
        [("entry.target_ce_delta", 1.2)],
        "entry.target_ce_delta",
        "must be less than 1",
    ),
    (
        "pe-delta-zero",
        [("entry.target_pe_delta", 0)],
        "entry.target_pe_delta",
        "must be greater than 0",
    ),
    (
        "delta-tolerance-cap",
        [("entry.delta_tolerance", 0.2)],
        "entry.delta_tolerance",
        "0.15 hard cap",
    ),
    ("quantity-zero", [("entry.quantity", 0)], "entry.quantity", "must be at least 1"),
    ("quantity-fraction", [("entry.quantity", 1.5)], "entry.quantity", "must be a whole number"),
    ("max-attempts-zero", [("entry.max_attempts", 0)], "entry.max_attempts", "must be at least 1"),
    (
        "expiry-unknown",
        [("entry.expiry", "biweekly")],
        "entry.expiry",
        "use weekly, next_weekly, monthly or a date",
    ),
    (
        "adjustment-type-unknown",
        [("adjustment.adjustment_type", "vega_spike")],
        "adjustment.adjustment_type",
        "must be one of: delta_drift",
    ),
    (
        "target-delta-above-max-leg",
        [("entry.target_ce_delta", 0.7)],
        "entry.target_ce_delta",
        "not below adjustment.max_leg_delta 0.65",
    ),
    (
        "rebalance-above-max-leg",
        [("adjustment.rebalance_target_delta", 0.65)],
        "adjustment.rebalance_target_delta",
        "closed as soon as it is opened",
    ),
    (
        "cooldown-negative",
        [("adjustment.cooldown_seconds", -1)],
        "adjustment.cooldown_seconds",
        "must be at least 0",
    ),
    (
        "max-adjustments-zero",
        [("adjustment.max_adjustments_per_day", 0)],
        "adjustment.max_adjustments_per_day",
        "must be at least 1",
    ),
    (
        "profit-step-negative",
        [("adjustment.profit_step", -500)],
        "adjustment.profit_step",
        "must be greater than 0",
    ),
    (
        "exit-type-unknown",
        [("exit.exit_type", "manual")],
        "exit.exit_type",
        "must be one of: profit_target",
    ),
    ("max-loss-zero", [("exit.max_loss", 0)], "exit.max_loss", "must be greater than 0"),
    (
        "profit-target-string",
        [("exit.profit_target", "5000")],
        "exit.profit_target",
        'must be a number (got "5000")',
    ),
    (
        "profit-percent-over-100",
        [("exit.profit_target_percent", 150)],
        "exit.profit_target_percent",
        "must be at most 100",
    ),
    (
        "stop-loss-percent-zero",
        [("exit.stop_loss_percent", 0)],
        "exit.stop_loss_percent",
        "must be greater than 0",
    ),
    (
        "carry-with-mis",
        [("exit.time_exit_override", False), ("execution.product", "MIS")],
        "exit.time_exit_override",
        "squares off MIS",
    ),
    (
        "stale-exit-negative",
        [("exit.stale_exit_seconds", -5)],
        "exit.stale_exit_seconds",
        "must be greater than 0",
    ),
    (
        "order-type-unknown",
        [("execution.order_type", "FOK")],
        "execution.order_type",
        "must be one of: MARKET, LIMIT, SL, SL-M",
    ),
    ("product-cnc", [("execution.product", "CNC")], "execution.product", "not valid for options"),
    (
        "price-limit-zero",
        [("execution.price_limit_percent", 0)],
        "execution.price_limit_percent",
        "must be greater than 0",
    ),
    (
        "timeout-zero",
        [("execution.timeout_seconds", 0)],
        "execution.timeout_seconds",
        "must be at least 1",
    ),
    (
        "on-timeout-unknown",
        [("execution.on_timeout", "retry")],
        "execution.on_timeout",
        "must be one of: reprice, cancel",
    ),
    (
        "one-leg-for-a-strangle",
        [("risk_management.max_concurrent_legs", 1)],
        "risk_management.max_concurrent_legs",
        "dnss holds a CE and a PE leg",
    ),
    (
        "quantity-over-position-limit",
        [("entry.quantity", 3)],
        "entry.quantity",
        "more than risk_management.max_position_size 2",
    ),
    (
        "max-daily-loss-negative",
        [("risk_management.max_daily_loss", -1)],
        "risk_management.max_daily_loss",
        "must be greater than 0",
    ),
    (
        "vega-limit-nan",
        [("risk_management.vega_limit", float("nan"))],
        "risk_management.vega_limit",
        "must be a finite number",
    ),
    (
        "poll-interval-too-fast",
        [("monitoring.poll_interval_seconds", 0.05)],
        "monitoring.poll_interval_seconds",
        "must be at least 0.1",
    ),
    (
        "log-file-is-folder",
        [("monitoring.log_file", _folder)],
        "monitoring.log_file",
        "is a folder",
    ),
    (
        "webhook-scheme",
        [("monitoring.alert_webhook", "ftp://hooks.example")],
        "monitoring.alert_webhook",
        "not a URL starting with http:// or https://",
    ),
    (
        "alert-email-not-an-address",
        [("monitoring.alert_email", "me at example.com")],
        "monitoring.alert_email",
        "is not an e-mail address",
    ),
    (
        "backtest-dates-format",
        [("backtesting.backtest_dates", "Jan 2026")],
        "backtesting.backtest_dates",
        "2026-01-01 to 2026-01-31",
    ),
    (
        "backtest-dates-reversed",
        [("backtesting.backtest_dates", "2026-01-31 to 2026-01-01")],
        "backtesting.backtest_dates",
        "ends before it starts",
    ),
    (
        "backtest-dates-impossible",
        [("backtesting.backtest_dates", "2026-02-30 to 2026-03-31")],
        "backtesting.backtest_dates",
        "impossible date",
    ),
    (
        "win-rate-over-100",
        [("backtesting.backtest_win_rate", 120)],
        "backtesting.backtest_win_rate",
        "must be at most 100",
    ),
]


def _apply(doc: dict[str, Any], edits: list[tuple[str, Any]], tmp: Path) -> dict[str, Any]:
    for path, value in edits:
        if value is None:  # None in the table means "leave the key out"
            doc = edited(doc, path)
        else:
            doc = edited(doc, path, value(tmp) if callable(value) else value)
    return doc


@pytest.mark.parametrize(
    ("edits", "where", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule(tmp_path, edits, where, fragment):
    doc = _apply(good_config(make_chain_db(tmp_path / "chain.sqlite")), edits, tmp_path)
    issues = issues_of(doc, tmp_path)
    assert [i.path for i in issues] == [where], issues
    assert fragment in issues[0].message


def test_messages_carry_no_pydantic_jargon(tmp_path):
    good = good_config(make_chain_db(tmp_path / "chain.sqlite"))
    messages = []
    for case_id, edits, _, _ in CASES:
        case_dir = tmp_path / case_id
        case_dir.mkdir()
        messages += [i.message for i in issues_of(_apply(good, edits, case_dir), case_dir)]
    assert len(messages) == len(CASES)
    for text in messages:
        for jargon in ("pydantic", "Input should", "Value error", "validation error"):
            assert jargon not in text, text


def test_trailing_stop_alone_is_valid_and_its_defaults_are_announced(tmp_path):
    doc = edited(
        good_config(make_chain_db(tmp_path / "c.sqlite")), "exit.trailing_stop_enabled", True
    )
    config, issues = validate_config(doc, tmp_path)
    assert issues == []
    notes = {i.path: i.message for i in advisories(config)}
    assert "25% of the premium" in notes["exit.trailing_stop_activation"]
    assert "10% of the premium" in notes["exit.trailing_stop_distance"]
    assert config.exit.trail_levels(8000.0) == (2000.0, 800.0)


def test_disabled_adjustments_need_no_trigger(tmp_path):
    doc = good_config(make_chain_db(tmp_path / "c.sqlite"))
    doc["adjustment"] = {"enabled": False}
    assert issues_of(doc, tmp_path) == []


def test_profit_target_and_percent_may_both_be_set(tmp_path):
    doc = good_config(make_chain_db(tmp_path / "c.sqlite"))
    doc["exit"].update(profit_target_percent=50, stop_loss_percent=150)
    config, issues = validate_config(doc, tmp_path)
    assert issues == []
    assert (config.exit.profit_target, config.exit.profit_target_percent) == (5000, 50)
    assert (config.exit.max_loss, config.exit.stop_loss_percent) == (5000, 150)


def test_live_feed_market_is_valid_with_a_feed_url(tmp_path):
    doc = good_config(tmp_path / "unused.sqlite")
    doc["market_config"] = {
        "market_type": "live_feed_market",
        "exchange": "BFO",
        "symbol": "SENSEX",
        "feed_url": "wss://feed.example/sensex",
    }
    config, issues = validate_config(doc, tmp_path)
    assert issues == []
    assert config.market_config.feed_url == "wss://feed.example/sensex"


def test_catalog_folder_with_the_symbol_is_accepted(tmp_path):
    (tmp_path / "catalog" / "chains" / "symbol=NIFTY" / "date=2026-02-10").mkdir(parents=True)
    config, issues = validate_config(good_config(tmp_path / "catalog"), tmp_path)
    assert issues == []
    assert config.market_config.db_path == tmp_path / "catalog"


def test_six_independent_mistakes_give_six_issues(tmp_path):
    """Field errors and cross-field errors in different sections, all reported in one pass."""
    doc = good_config(make_chain_db(tmp_path / "c.sqlite"))
    doc = edited(doc, "market_config.market_type", "websocket")  # field: not a market type
    doc = edited(doc, "entry.entry_time", "9:30")  # field: not HH:MM
    doc = edited(doc, "execution.order_type", "STOP")  # cross-field: dnss sets no trigger
    doc = edited(doc, "execution.product", "CNC")  # field: not for options
    doc = edited(doc, "risk_management.max_concurrent_legs", 1)  # cross-field: dnss holds two legs
    doc = edited(doc, "monitoring.alert_email", "me@example")  # field: not an address
    issues = issues_of(doc, tmp_path)
    assert [i.path for i in issues] == [
        "market_config.market_type",
        "entry.entry_time",
        "execution.product",
        "execution.order_type",
        "risk_management.max_concurrent_legs",
        "monitoring.alert_email",
    ]


def test_issue_prints_path_and_message(tmp_path):
    doc = edited(good_config(make_chain_db(tmp_path / "c.sqlite")), "exit.exit_time", "9:30")
    assert [str(i) for i in issues_of(doc, tmp_path)] == [
        'exit.exit_time: "9:30" is not HH:MM — write "09:30"'
    ]


def test_a_document_that_is_not_an_object(tmp_path):
    issues = issues_of(["not", "a", "strategy"], tmp_path)
    assert [(i.path, "must be an object" in i.message) for i in issues] == [("(top level)", True)]


def test_db_path_is_optional_for_database_market(tmp_path):
    """backtest/sweep/run read --data: a file without db_path is valid wherever it is copied."""
    doc = _apply(good_config(make_chain_db(tmp_path / "chain.sqlite")), [("market_config.db_path", None)], tmp_path)
    assert issues_of(doc, tmp_path) == []
