"""The shipped example configs, the exported JSON Schema and docs/config.md stay in step with the models."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest

from optrunner.config import (
    StrategyConfig,
    iter_strategy_files,
    load_config_file,
    strategy_json_schema,
)
from optrunner.config.translate import field_paths, model_at
from optrunner.core.types import OrderType, Product

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SAMPLES = ("NFO_NIFTY_sample.sqlite", "NFO_BANKNIFTY_sample.sqlite")


@pytest.fixture
def configs() -> Path:
    """examples/configs, next to the sample chain files examples/data/make_samples.py writes."""
    assert all((EXAMPLES / "data" / name).is_file() for name in SAMPLES)
    return EXAMPLES / "configs"


@pytest.mark.parametrize(
    "name",
    [
        "NIFTY_DNSS.json",
        "BANKNIFTY_DNSS.json",
        "NIFTY_DNSS_TEMPLATE.json",
        "NIFTY_WEEKLY_ZONES.json",
        "NIFTY_MOMENTUM_BUYER.json",
    ],
)
def test_example_validates_wherever_it_is_copied(configs, name, tmp_path):
    """No db_path or log_file: nothing in an example points at a file next to it."""
    copy = tmp_path / "elsewhere" / name
    copy.parent.mkdir()
    copy.write_text((configs / name).read_text())
    config = load_config_file(copy)
    assert config.market_config.db_path is None and config.monitoring.log_file is None


def test_nifty_example_has_the_documented_settings(configs):
    c = load_config_file(configs / "NIFTY_DNSS.json")
    assert (c.strategy, c.market_config.symbol, c.market_config.exchange) == (
        "dnss",
        "NIFTY",
        "NFO",
    )
    assert (c.entry.entry_time, c.exit.exit_time) == (time(9, 30), time(15, 15))
    assert (c.entry.target_ce_delta, c.entry.target_pe_delta, c.entry.quantity) == (0.25, 0.25, 1)
    a = c.adjustment
    assert (
        a.delta_drift_trigger,
        a.max_leg_delta,
        a.profit_step,
        a.cooldown_seconds,
        a.max_adjustments_per_day,
    ) == (
        0.30,
        0.65,
        1500,
        60,
        5,
    )
    assert (c.exit.max_loss, c.exit.profit_target) == (5000, 5000)
    assert (c.execution.order_type, c.execution.price_limit_percent, c.execution.product) == (
        OrderType.MARKET,
        1.0,
        Product.NRML,
    )


def test_weekly_zones_and_momentum_buyer_examples_carry_the_seeds_defaults(configs):
    wz = load_config_file(configs / "NIFTY_WEEKLY_ZONES.json").weekly_zones
    assert (wz.quantity, wz.hedge_offset, wz.stop_loss_type, wz.cooldown_minutes, wz.max_positions) == (
        2, 200, "lock", 120, 3)  # fmt: skip  (the seed's 10 lots need ~Rs 20 L of short margin)
    assert len(wz.signal_types) == 8
    mb = load_config_file(configs / "NIFTY_MOMENTUM_BUYER.json").momentum_buyer
    assert (mb.max_otm, mb.min_rsi, mb.cooldown_seconds, mb.stop_loss_pct, mb.target_pct) == (2, 60, 180, 3, 5)


def test_runner_would_load_the_strategies_but_not_the_template(configs):
    skipped = []
    loaded = [
        p.name for p in iter_strategy_files(configs, on_skip=lambda p, why: skipped.append(p.name))
    ]
    assert loaded == [
        "BANKNIFTY_DNSS.json",
        "NIFTY_DNSS.json",
        "NIFTY_LOW_FREQUENCY_DEMO.json",
        "NIFTY_MOMENTUM.json",
        "NIFTY_MOMENTUM_BUYER.json",
        "NIFTY_WEEKLY_ZONES.json",
    ]
    assert skipped == ["NIFTY_DNSS_TEMPLATE.json"]


def _objects(node):
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def test_every_schema_field_has_a_description():
    schema = strategy_json_schema()
    described = 0
    for obj in _objects(schema):
        for name, prop in obj["properties"].items():
            assert prop.get("description"), f"{obj.get('title')}.{name} has no description"
            described += 1
    sections = sum(1 for name in StrategyConfig.model_fields if model_at((name,)) is not None)
    assert sections == 16  # market, dnss's entry/adjustment/exit, 3 composition kinds, weekly_zones,
    # momentum_buyer, legs/legs_entry/legs_exit, 4 operations
    assert described == len(field_paths()) + sections  # the leaves (nested objects' keys too) plus the sections


def test_schema_lists_the_seed_order_type_aliases_and_refuses_unknown_keys():
    schema = strategy_json_schema()
    execution = schema["$defs"]["ExecutionConfig"]["properties"]
    assert set(execution["order_type"]["enum"]) == {
        "MARKET",
        "LIMIT",
        "SL",
        "SL-M",
        "STOP",
        "STOP_LIMIT",
        "SL_M",
    }
    assert execution["product"]["enum"] == ["NRML", "MIS"]
    assert all(obj.get("additionalProperties") is False for obj in _objects(schema))


def test_docs_describe_every_field():
    """docs/config.md has a table row for every key, under the heading of its section."""
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    blocks = {}  # a heading may name several sections that share one table: "## `a`, `b`"
    for m in re.finditer(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S):
        for name in re.findall(r"`[^`]+`", m.group(1)) or [m.group(1)]:
            blocks[name] = m.group(2)
    missing = []
    for path in field_paths():
        section, _, key = path.rpartition(".")
        block = blocks.get(f"`{section}`" if section else "Top level", "")
        if f"| `{key}` |" not in block:
            missing.append(path)
    assert missing == []
