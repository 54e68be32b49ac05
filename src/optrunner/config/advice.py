"""Warnings about a *valid* strategy file: defaults the engine fills in that a user may not expect.

The seed's minimal file (name, market, entry_time, exit_time) is valid and runs; these notes
say what it will do, so a missing field is a visible choice instead of a silent one.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from optrunner.config.issues import ConfigIssue
from optrunner.config.kinds import lots_from_units
from optrunner.config.sections import (
    DEFAULT_LOTS,
    DEFAULT_TARGET_DELTA,
    DEFAULT_TRAIL_ACTIVATION_PCT,
    DEFAULT_TRAIL_DISTANCE_PCT,
)
from optrunner.instruments import get_index


def _weekly_zones(config: Any) -> list[ConfigIssue]:
    """Seed 002's payload gave units: say now (not at the first trade) if they are not whole lots."""
    wz = config.weekly_zones
    if wz is None or wz.quantity_units is None:
        return []
    out = []
    if "quantity" in wz.model_fields_set:
        out.append(ConfigIssue("weekly_zones.quantity", "ignored — quantity_units is set and is used instead"))
    today = date.today()
    lot = get_index(config.market_config.symbol).lot_size(today)
    try:
        lots_from_units(wz.quantity_units, lot)
    except ValueError as exc:
        out.append(ConfigIssue("weekly_zones.quantity_units",
                               f"{exc} (lot of contracts expiring from {today}) — the strategy halts at its first trade"))  # fmt: skip
    return out


def advisories(config: Any) -> list[ConfigIssue]:
    """What the engine will assume for ``config`` (a validated StrategyConfig)."""
    if config.strategy == "weekly_zones":
        return _weekly_zones(config)
    if config.strategy != "dnss":
        return []
    out: list[ConfigIssue] = []
    e, a, x = config.entry, config.adjustment, config.exit
    for path, value in (("target_ce_delta", e.target_ce_delta), ("target_pe_delta", e.target_pe_delta)):
        if value is None:
            out.append(ConfigIssue(f"entry.{path}", f"not set — using {DEFAULT_TARGET_DELTA}"))
    if e.quantity is None:
        out.append(ConfigIssue("entry.quantity", f"not set — trading {DEFAULT_LOTS} lot per leg"))
    if a is None:
        out.append(ConfigIssue("adjustment", "not set — the strangle is never re-balanced"))
    elif a.enabled and a.delta_drift_trigger is None and a.profit_step is None:
        out.append(
            ConfigIssue(
                "adjustment.delta_drift_trigger",
                "not set (nor profit_step) — adjustments are off; set it to re-balance on delta drift",
            )
        )
    if x.trailing_stop_enabled:
        if x.trailing_stop_activation is None:
            out.append(ConfigIssue("exit.trailing_stop_activation",
                                   f"not set — the stop starts trailing at {DEFAULT_TRAIL_ACTIVATION_PCT:g}% of the premium collected"))  # fmt: skip
        if x.trailing_stop_distance is None:
            out.append(ConfigIssue("exit.trailing_stop_distance",
                                   f"not set — exits {DEFAULT_TRAIL_DISTANCE_PCT:g}% of the premium collected below the peak"))  # fmt: skip
    return out
