"""Operator actions of the trading service besides the kill switch and the emergency stop
(service.py): seed 002's ``trading/start``, a manual exit of one strategy's or one
position's legs, and the hot reload of strategy files.

Each is validated completely first — a refused action changes nothing — and then applied
under the kernel's lock (between two inputs, never inside one) and checkpointed before it
returns, like every operator action (``TradingService._checkpointed``). Refusals are
:class:`Refused` with the HTTP status the API answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optrunner.config import check_file, iter_strategy_files, validate_config
from optrunner.config.kinds import lots_from_units
from optrunner.core.timeutil import to_ist
from optrunner.instruments import get_index
from optrunner.live.service import API_SOURCE, TradingService
from optrunner.risk.kill_switch import TradingState
from optrunner.runner_reload import (
    CannotCarry,
    ReloadFailed,
    apply_strategy_changes,
    build_carrying_state,
)

log = logging.getLogger(__name__)

WEEKLY_ZONES = "weekly_zones"
SEED_OVERRIDES = ("signal_types", "quantity", "stop_loss_type")
_SEED_SIGNAL_ID = re.compile(r"^(S[1-8])_(\d{8})_(\d{4,6})$", re.IGNORECASE)


class Refused(Exception):
    """An action refused before anything changed: ``status`` (4xx) and what to do."""

    def __init__(self, status: int, message: str, issues: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.issues = list(issues)  # (JSON path, message) of an invalid document


@dataclass(frozen=True, slots=True)
class StartItem:
    """One entry of the start payload's ``strategies``: a loaded strategy's name, or the seed's
    object (``name`` optional: the one weekly_zones strategy)."""

    name: str | None = None
    enabled: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)  # signal_types, quantity (units), stop_loss_type


def _started(s: TradingService) -> bool:
    return bool(s.node.inputs) or s.node.resume_after is not None


def _halted(s: TradingService, name: str) -> bool:
    return name in s.kernel.runner.get_status()["halted"] or s.kernel.om.is_halted(name)


def _kind(config: Any) -> str:
    return str(getattr(config, "strategy", "") or "")


def _resume(s: TradingService, name: str) -> None:
    """The enable path of ``TradingService.enable_strategy`` (caller holds the lock)."""
    k = s.kernel
    k.om.resume(name)
    k.runner.resume(name)
    k.safety.pending.pop(name, None)


# --- seed 002: POST /integrated/trading/start -----------------------------------------------------


def _resolve_start(s: TradingService, items: Sequence[StartItem]) -> list[tuple[str, StartItem]]:
    configs = s.kernel.runner.configs()
    out: list[tuple[str, StartItem]] = []
    for i, item in enumerate(items):
        where = f"body.strategies[{i}]"
        name = item.name
        if name is None:
            zones = sorted(n for n, c in configs.items() if _kind(c) == WEEKLY_ZONES)
            if len(zones) != 1:
                have = f"{len(zones)} are loaded ({', '.join(zones)})" if zones else "none is loaded"
                raise Refused(422, f"{where}: give its 'name': the seed's entry applies to the one weekly_zones "
                                   f"strategy and {have}; GET /api/strategies lists the names")  # fmt: skip
            name = zones[0]
        if name not in configs:
            raise Refused(404, f"{where}: no strategy named {name!r}; GET /api/strategies lists them")
        if item.overrides and _kind(configs[name]) != WEEKLY_ZONES:
            raise Refused(422, f"{where}: {', '.join(sorted(item.overrides))} set the S1-S8 weekly_zones strategy; "
                               f"{name!r} is {_kind(configs[name]) or 'another kind'}")  # fmt: skip
        if any(n == name for n, _ in out):
            raise Refused(422, f"{where}: {name!r} is listed twice")
        out.append((name, item))
    return out


def _with_overrides(s: TradingService, name: str, overrides: dict[str, Any], where: str) -> Any:
    """``name``'s config with the seed's fields applied, validated like a file (quantity is
    units, as the seed's payload gives it: a whole number of lots of the traded contract)."""
    config = s.kernel.runner.configs()[name]
    data = config.model_dump(mode="json", exclude_none=True)
    section = dict(data.get(WEEKLY_ZONES) or {})
    if "signal_types" in overrides:
        section["signal_types"] = list(overrides["signal_types"])
    if "stop_loss_type" in overrides:
        section["stop_loss_type"] = overrides["stop_loss_type"]
    if "quantity" in overrides:
        units = int(overrides["quantity"])
        symbol = config.market_config.symbol
        day = s.node.day or to_ist(s.kernel.now()).date()
        try:
            lots_from_units(units, get_index(symbol).lot_size(day, day))
        except ValueError as exc:
            raise Refused(422, f"{where}.quantity: {exc}") from None
        section["quantity_units"] = units
    data[WEEKLY_ZONES] = section
    new, issues = validate_config(data, s.config_dir or Path.cwd())  # relative paths as in its file
    if issues or new is None:
        raise Refused(422, f"{where}: the resulting config is invalid",
                      [(f"{where}.{i.path}", i.message) for i in issues])  # fmt: skip
    return new


def start_trading(s: TradingService, mode: str, items: Sequence[StartItem] | None, reason: str) -> dict[str, Any]:
    """Start (or resume) trading: kill switch to ACTIVE, then each listed strategy enabled
    (resumed when halted) or disabled (the halt path), with the seed's fields applied to a
    weekly_zones strategy. Strategies not listed are left as they are. ``mode`` must be the
    service's: LIVE needs ``--live`` and a configured broker."""
    if mode.lower() != s.mode.lower():
        if mode.upper() == "LIVE":
            raise Refused(409, "LIVE trading needs a live broker: this service runs the paper broker. Start "
                               "`optrunner serve --live --broker kite|dhan|shoonya` after `optrunner broker login`; "
                               "send mode PAPER to trade on paper")  # fmt: skip
        raise Refused(409, f"this service runs {s.mode.upper()}; restart it to trade {mode.upper()}")
    plan = _resolve_start(s, items or ())
    k = s.kernel

    def act() -> dict[str, Any]:
        # everything is checked and built before anything changes: a refusal leaves all as it was
        replacements = {
            name: _with_overrides(s, name, item.overrides, f"body.strategies[{i}]")
            for i, (name, item) in enumerate(plan) if item.overrides
        }  # fmt: skip
        if any(not item.enabled and not _halted(s, name) for name, item in plan) and not _started(s):
            raise Refused(409, "the session has not had its first input yet: try again in a moment")
        built = {name: _carried(s, name, config) for name, config in replacements.items()}
        switch = k.risk.kill_switch
        before = switch.state
        changed = switch.set(TradingState.ACTIVE, source=API_SOURCE, reason=reason, ts=k.now())
        rows = []
        for name, item in plan:
            was_halted = _halted(s, name)
            if name in built:
                k.runner.replace(name, built[name], replacements[name])
            if item.enabled and was_halted:
                _resume(s, name)
            elif not item.enabled and not was_halted:
                k.safety.halt(name, f"{API_SOURCE}: disabled by trading/start")
            rows.append({"name": name, "enabled": item.enabled, "changed": was_halted == item.enabled,
                         "reconfigured": name in built})  # fmt: skip
        return {"mode": s.mode.upper(), "state": switch.state.value, "previous": before.value,
                "changed": changed, "strategies": rows}  # fmt: skip

    return s._checkpointed(act)


# --- seed 002: POST /integrated/trading/exit-position ----------------------------------------------


def position_id(strategy: str, contract_id: str) -> str:
    """A leg's id in the API: ``<strategy>/<contract>`` (contract ids hold no slash)."""
    return f"{strategy}/{contract_id}"


def _strategy_trades(s: TradingService, text: str) -> tuple[str, set[str]] | None:
    """A weekly_zones trade (main + hedge) by ``<strategy>:<pid>`` or the seed's signal id
    ``S1_20250825_101500`` (signal, IST entry day, and time when several match)."""
    strategies = s.kernel.runner.strategies()
    name, _, pid = text.rpartition(":")
    if name in strategies:
        p = (getattr(strategies[name], "positions", None) or {}).get(pid)
        if p is not None and hasattr(p, "main"):
            return name, {c.id for c in (p.main, p.hedge) if c is not None}
    m = _SEED_SIGNAL_ID.match(text)
    if m is None:
        return None
    signal, day, hhmmss = m.group(1).upper(), m.group(2), m.group(3).ljust(6, "0")
    found = []
    for n, strat in strategies.items():
        for p in (getattr(strat, "positions", None) or {}).values():
            if getattr(p, "signal", None) == signal and f"{to_ist(p.entered):%Y%m%d}" == day:
                found.append((n, p))
    exact = [(n, p) for n, p in found if f"{to_ist(p.entered):%H%M%S}" == hhmmss]
    pick = exact or found
    if len(pick) != 1:
        return None
    n, p = pick[0]
    return n, {c.id for c in (p.main, p.hedge) if c is not None}


def _exit_target(s: TradingService, signal_id: str | None, strategy: str | None,
                 position: str | None) -> tuple[str, set[str]]:  # fmt: skip
    k = s.kernel
    names = k.runner.strategies()
    held = {position_id(p.strategy, p.contract.id): p for p in k.portfolio.positions()}
    if strategy is not None:
        if strategy not in names and not k.portfolio.positions(strategy):
            raise Refused(404, f"no strategy named {strategy!r}; GET /api/strategies lists them")
        return strategy, {p.contract.id for p in k.portfolio.positions(strategy)}
    if position is not None:
        p = held.get(position)
        if p is None:
            raise Refused(404, f"no open position {position!r}; GET /integrated/trading/positions lists them")
        return p.strategy, {p.contract.id}
    assert signal_id is not None
    if signal_id in names:
        return signal_id, {p.contract.id for p in k.portfolio.positions(signal_id)}
    if signal_id in held:
        return held[signal_id].strategy, {held[signal_id].contract.id}
    trade = _strategy_trades(s, signal_id)
    if trade is None:
        raise Refused(404, f"nothing matches signal_id {signal_id!r}: give a strategy name, a position id "
                           "(GET /integrated/trading/positions), <strategy>:<trade id> or S1_YYYYMMDD_HHMMSS")  # fmt: skip
    return trade


def exit_position(s: TradingService, *, signal_id: str | None = None, strategy: str | None = None,
                  position: str | None = None, reason: str = "manual exit from the API") -> dict[str, Any]:  # fmt: skip
    """Close one strategy's legs, or one leg, or one trade's legs, at market through the
    kernel's flatten orders (``SafetyDesk.exit_positions``); the strategy keeps running (a
    strategy's own later exit of a closed leg is refused by the close guard)."""
    k = s.kernel

    def act() -> dict[str, Any]:
        name, contracts = _exit_target(s, signal_id, strategy, position)
        open_before = {p.contract.id for p in k.portfolio.positions(name) if p.contract.id in contracts}
        if not open_before:
            raise Refused(409, f"{name!r} holds no open position there: nothing to exit")
        sent = k.safety.exit_positions(name, open_before, f"{API_SOURCE}: {reason}")
        still = [position_id(name, p.contract.id) for p in k.portfolio.positions(name) if p.contract.id in contracts]
        return {"strategy": name, "positions": sorted(position_id(name, c) for c in open_before),
                "orders": sent, "open_positions": still, "session_open": k.session_open}  # fmt: skip

    return s._checkpointed(act)


# --- ours: POST /api/strategies/reload ------------------------------------------------------------


def _carried(s: TradingService, name: str, config: Any) -> Any:
    """A new build of ``config`` carrying the running ``name``'s state (its open trades), or the
    refusal: 422 when it cannot be built, 409 when it cannot take over the running state."""
    try:
        return build_carrying_state(s.kernel.runner, name, config)
    except CannotCarry as exc:
        raise Refused(409, f"{exc}; flatten it first, then try again") from None
    except Exception as exc:
        raise Refused(422, f"{name!r} cannot be built: {type(exc).__name__}: {exc}") from None


def _read_folder(config_dir: Path) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Every runnable strategy file in ``config_dir`` by name, and every issue (file: JSON path)."""
    configs: dict[str, Any] = {}
    issues: list[tuple[str, str]] = []
    for path in iter_strategy_files(config_dir):
        report = check_file(path)
        if report.config is None:
            issues.extend((f"{path.name}: {i.path}", i.message) for i in report.issues)
            continue
        name = report.config.name
        if name in configs:
            issues.append((f"{path.name}: name", f"another file already defines strategy {name!r}"))
            continue
        configs[name] = report.config
    return configs, issues


def store_configs(store: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The active ``strategy_configurations`` rows as strategy configs by row id, and every
    issue. A row is a whole strategy file in ``parameters`` (with ``market_config``), validated
    as the file would be (runner.load_strategies_from_store reads the same rows); the seed 004
    composition rows are not run by the service (they need a market adapter of their own)."""
    configs: dict[str, Any] = {}
    issues: list[tuple[str, str]] = []
    for row in store.active_strategy_configurations():
        where = f"strategy_configurations[{row.id}]"
        if not (isinstance(row.parameters, dict) and "market_config" in row.parameters):
            issues.append((f"{where}: parameters", "the service runs rows holding a whole strategy file (with "
                                                   "market_config); a composition row runs with optrunner run"))  # fmt: skip
            continue
        config, problems = validate_config({**row.parameters, "name": row.id}, Path.cwd())
        if problems or config is None:
            issues.extend((f"{where}: {i.path}", i.message) for i in problems)
            continue
        configs[row.id] = config
    return configs, issues


def _wanted(s: TradingService) -> dict[str, Any]:
    """What the service should run now, from where it was started: its store's table or its folder."""
    if s.strategy_source == "store":
        with s.lock:  # the store is the session's: read it between two inputs
            wanted, issues = store_configs(s.node.store)
        what = "the strategy_configurations rows"
    else:
        if s.config_dir is None:
            raise Refused(409, "this service was not started from strategy files or the store's table: nothing to reload")
        if not s.config_dir.is_dir():
            raise Refused(409, f"--config-dir {s.config_dir.name} is no longer a folder")
        wanted, issues = _read_folder(s.config_dir)
        what = "the strategy files"
    if issues:
        raise Refused(422, f"{len(issues)} problem(s) in {what}: nothing was changed", issues)
    return wanted


def reload_strategies(s: TradingService, reason: str = "reloaded from the API") -> dict[str, Any]:
    """Re-read ``--config-dir`` (or the store's ``strategy_configurations`` rows); if every one
    is valid, buildable and on a replayed index, bring the running set to it through the one
    hot-swap path (``runner_reload.apply_strategy_changes``, as ``--strategies db`` does): new
    strategies added, changed ones replaced carrying their state and positions (a change that
    cannot carry them waits until flat), removed ones drained or kept running per
    ``--on-change`` until flat, then unregistered (``finish_drains`` at each input)."""
    wanted = _wanted(s)
    k = s.kernel

    def act() -> dict[str, Any]:
        foreign = sorted(n for n, c in wanted.items() if s.symbols and c.market_config.symbol not in s.symbols)
        if foreign:
            raise Refused(422, f"{', '.join(foreign)}: the service replays {', '.join(s.symbols)} only; "
                               "restart it to trade another index — nothing was changed")  # fmt: skip
        current = k.runner.configs()
        try:
            report = apply_strategy_changes(k.runner, wanted, on_change=s.on_change, carry_state=True, atomic=True)
        except ReloadFailed as exc:
            raise Refused(422, f"{len(exc.failed)} strateg(ies) cannot be built: nothing was changed",
                          [(name, why) for name, why in sorted(exc.failed.items())]) from None  # fmt: skip
        removed = sorted(set(current) - set(wanted))
        if report.changed:
            log.warning("strategies reloaded (%s): %s", reason, report.as_dict())
        return {"added": report.added, "replaced": report.replaced, "removed": removed,
                "unregistered": report.removed, "waiting": sorted(k.runner.pending_changes),
                "on_change": s.on_change,
                "unchanged": sorted(n for n in set(wanted) & set(current) if wanted[n] == current[n])}  # fmt: skip

    return s._checkpointed(act)
