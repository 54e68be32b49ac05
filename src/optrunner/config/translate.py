"""Pydantic's errors in a trader's words: the JSON path and what to write instead.

No pydantic URLs, type names or "Input should be ..." phrasing reach the user.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from optrunner.config.base import section_model, show
from optrunner.config.issues import ROOT, ConfigIssue
from optrunner.config.strategy import StrategyConfig


def json_path(loc: Sequence[int | str]) -> str:
    """("exit", "exit_time") -> "exit.exit_time"; list positions as [i]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or ROOT


def model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The section model a location points into (None past a leaf)."""
    model: type[BaseModel] = StrategyConfig
    for part in loc:
        if isinstance(part, int):  # a position in a list of sections (legs[0]) stays on its model
            continue
        field = model.model_fields.get(part)
        section = section_model(field.annotation) if field else None
        if section is None:
            return None
        model = section
    return model


def field_paths() -> dict[str, str]:
    """Every key a strategy file may hold: dotted path -> key name."""
    paths: dict[str, str] = {}

    def walk(prefix: tuple[str, ...], model: type[BaseModel]) -> None:
        for key in model.model_fields:
            inner = model_at((*prefix, key))
            if inner is None or not prefix:
                paths[".".join((*prefix, key))] = key
            if inner is not None:
                if prefix:
                    paths[".".join((*prefix, key))] = key  # a nested object is a key of its section too
                walk((*prefix, key), inner)

    walk((), StrategyConfig)
    return {p: k for p, k in paths.items() if "." in p or model_at((p,)) is None}


def _unknown_key(loc: Sequence[int | str]) -> str:
    """Say where the key belongs: a close local key, the same key in another section, or the list."""
    key = str(loc[-1])
    here = json_path(loc[:-1]) if loc[:-1] else ""
    parent = model_at(loc[:-1])
    local = list(parent.model_fields) if parent else []
    elsewhere = {p: k for p, k in field_paths().items() if p.rpartition(".")[0] != here}
    exact = [p for p, k in elsewhere.items() if k == key]
    if exact:
        where = exact[0] if "." in exact[0] else "the top level of the file"
        return f"unknown key '{key}' — it belongs at {where}"

    def score(candidate: str) -> float:
        return difflib.SequenceMatcher(None, key.lower(), candidate.lower()).ratio()

    best = max(local, key=score, default=None)
    best_elsewhere = max(elsewhere, key=lambda p: score(elsewhere[p]), default=None)
    if (
        best is not None
        and score(best) >= 0.6
        and (best_elsewhere is None or score(best) >= score(elsewhere[best_elsewhere]))
    ):
        return f"unknown key '{key}' — did you mean '{best}'?"
    if best_elsewhere is not None and score(elsewhere[best_elsewhere]) >= 0.6:
        return f"unknown key '{key}' — did you mean '{best_elsewhere}'?"
    return f"unknown key '{key}' — allowed here: {', '.join(local)}"


def _number(bound: Any) -> str:
    """1.0 -> "1", 0.15 -> "0.15" (constraints on float fields come back as floats)."""
    return str(int(bound)) if isinstance(bound, float) and bound.is_integer() else str(bound)


_SIMPLE = {
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be text in quotes",
    "finite_number": "must be a finite number",
    "tuple_type": "must be a list [...]",
    "list_type": "must be a list [...]",
}

_BOUNDS = {
    "greater_than": ("gt", "must be greater than"),
    "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"),
    "less_than_equal": ("le", "must be at most"),
}


def message(err: ErrorDetails) -> str:
    """One pydantic error as a sentence."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        return _unknown_key(err["loc"])
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind in _SIMPLE:
        return f"{_SIMPLE[kind]} (got {show(value)})"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"{words} {_number(ctx.get(key))} (got {show(value)})"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"must list at least {n} item{'s' if n != 1 else ''} (got {len(value) if hasattr(value, '__len__') else show(value)})"
    if kind == "model_type":
        return f"must be an object {{...}} with its own keys (got {show(value)})"
    return err["msg"]


def to_issues(errors: Sequence[ErrorDetails]) -> list[ConfigIssue]:
    return [ConfigIssue(json_path(err["loc"]), message(err)) for err in errors]
