"""Index specifications with effective-date history, loaded from a data file users can edit.

Lot sizes, freeze limits and expiry weekdays all changed during 2024-26 and will change
again, so each is a dated list in ``data/indices.json`` rather than a constant in code.
Set ``OPTRUNNER_INDICES`` to a JSON file of the same shape to override it. Lot sizes follow
NSE's revision circulars per contract (:mod:`optrunner.instruments.lots`). Each index may list
``aliases``, the other names sources use for it (NSE's option-chain API says ``NIFTY 50``,
scrapes ``NIFTY50``); :func:`canonical_symbol` maps them to the trading symbol.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from optrunner.instruments.lots import LotHistory, parse_lot_history

WEEKDAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4}


@dataclass(frozen=True, slots=True)
class ExpiryRule:
    effective_from: date
    weekly: int | None  # weekday number, None when the index has no weeklies
    monthly: int


@dataclass(frozen=True, slots=True)
class IndexSpec:
    symbol: str
    exchange: str
    segment: str
    calendar: str
    strike_step: float
    tick_size: float
    lots: LotHistory
    _freeze_from: tuple[date, ...]
    _freeze_qty: tuple[int, ...]
    expiry_rules: tuple[ExpiryRule, ...]
    aliases: tuple[str, ...] = ()

    def lot_size(self, expiry: date, on: date | None = None) -> int:
        """Units per lot of the contract expiring ``expiry``, traded on ``on``.

        Lots belong to the contract: a revision sizes new contracts and lets most old ones run
        off, but some live contracts are re-sized mid-life (every NIFTY contract on 2024-04-26,
        quarterlies at the end of a transition). So the trade date matters for a contract
        listed before a revision; it defaults to the expiry day, which is right for the
        contracts a live strategy trades. Importers of historical files pass it.
        """
        return self.lots.size(expiry, on)

    def freeze_qty(self, on: date) -> int:
        """The exchange's maximum units per order on trade date ``on``."""
        return self._freeze_qty[_dated_index(self._freeze_from, on, self.symbol, "freeze quantity")]

    def expiry_rule(self, on: date) -> ExpiryRule:
        starts = [r.effective_from for r in self.expiry_rules]
        return self.expiry_rules[_dated_index(tuple(starts), on, self.symbol, "expiry rule")]

    def round_strike(self, price: float) -> float:
        return round(price / self.strike_step) * self.strike_step


def _dated_index(starts: tuple[date, ...], on: date, symbol: str, what: str) -> int:
    i = bisect.bisect_right(starts, on) - 1
    if i < 0:
        raise ValueError(f"{symbol}: no {what} known before {starts[0]} (asked for {on})")
    return i


def _parse_spec(symbol: str, raw: dict[str, Any]) -> IndexSpec:
    try:
        freeze = sorted((date.fromisoformat(e["from"]), int(e["qty"])) for e in raw["freeze_qty"])
        rules = sorted(
            (
                ExpiryRule(
                    date.fromisoformat(e["from"]),
                    WEEKDAYS[e["weekly"]] if e.get("weekly") else None,
                    WEEKDAYS[e["monthly"]],
                )
                for e in raw["expiry_rules"]
            ),
            key=lambda r: r.effective_from,
        )
        return IndexSpec(
            symbol=symbol,
            exchange=raw["exchange"],
            segment=raw["segment"],
            calendar=raw.get("calendar", raw["exchange"]),
            strike_step=float(raw["strike_step"]),
            tick_size=float(raw.get("tick_size", 0.05)),
            lots=parse_lot_history(symbol, raw["lot_sizes"]),
            _freeze_from=tuple(d for d, _ in freeze),
            _freeze_qty=tuple(q for _, q in freeze),
            expiry_rules=tuple(rules),
            aliases=tuple(str(a) for a in raw.get("aliases", ())),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"index {symbol}: bad specification ({exc!r}) — see instruments/data/indices.json") from exc


def _read_default() -> dict[str, Any]:
    override = os.environ.get("OPTRUNNER_INDICES")
    if override:
        return json.loads(Path(override).read_text())
    text = resources.files("optrunner.instruments").joinpath("data/indices.json").read_text()
    return json.loads(text)


def load_indices(raw: dict[str, Any] | None = None) -> dict[str, IndexSpec]:
    data = _read_default() if raw is None else raw
    return {k: _parse_spec(k, v) for k, v in data.items() if not k.startswith("_")}


@cache
def _registry() -> dict[str, IndexSpec]:
    return load_indices()


def _alias_key(name: str) -> str:
    """Spelling-insensitive key: ``Nifty 50``, ``NIFTY_50`` and ``NIFTY50`` all give ``NIFTY50``."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


@cache
def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for sym, spec in _registry().items():
        for name in (sym, *spec.aliases):
            out[_alias_key(name)] = sym
    return out


def canonical_symbol(name: str) -> str:
    """The trading symbol for ``name`` or one of its aliases (``NIFTY 50`` -> ``NIFTY``);
    an unknown name comes back upper-cased and trimmed, for the caller to report."""
    return _aliases().get(_alias_key(name), name.strip().upper())


def get_index(symbol: str) -> IndexSpec:
    """The specification of ``symbol`` (any alias works); KeyError lists the known indices."""
    registry = _registry()
    spec = registry.get(symbol)  # the trading symbol itself: no normalising on the hot path
    if spec is not None:
        return spec
    try:
        return registry[canonical_symbol(symbol)]
    except KeyError:
        raise KeyError(
            f"unknown index {symbol!r}; known: {', '.join(sorted(_registry()))}"
        ) from None


def known_indices() -> list[str]:
    return sorted(_registry())
