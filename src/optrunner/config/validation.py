"""``validate_config``: every problem in a strategy document, in one pass.

Pydantic stops at a model's field errors and never runs its cross-field checks, so a file
with a bad ``entry_time`` would hide a missing ``db_path``. Here the model is validated
once for the field errors, and the cross-field rules are run separately on the raw
document, each leaf re-validated on its own, so both kinds are reported together.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from optrunner.config.base import LoadContext, section_model
from optrunner.config.issues import ConfigIssue
from optrunner.config.rules import INVALID, Lookup, check_rules
from optrunner.config.strategy import RULES_ERROR, StrategyConfig
from optrunner.config.translate import to_issues


@cache
def _leaf_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """A validator for one field alone, with the same type, constraints and validators."""
    field = model.model_fields[name]
    if not field.metadata:
        return TypeAdapter(field.annotation)
    return TypeAdapter(Annotated[field.annotation, *field.metadata])  # type: ignore[name-defined]


def raw_lookup(data: dict[str, Any], context: LoadContext) -> Lookup:
    """Look up a dotted path in an unvalidated document: the field's validated value, its
    default when absent, or INVALID when it (or the section holding it) is broken."""
    memo: dict[str, Any] = {}

    def get(path: str) -> Any:
        if path not in memo:
            memo[path] = _get(data, path.split("."), context)
        return memo[path]

    return get


_ITEM = re.compile(r"^(\w+)\[(\d+)\]$")


def _item(data: Any, name: str, index: int, context: LoadContext) -> Any:
    """``legs[2]``: one element of a top-level list of sections, validated alone (so one broken
    leg does not hide the others' contradictions); None past the end, INVALID when broken."""
    items = data.get(name) if isinstance(data, dict) else None
    model = section_model(StrategyConfig.model_fields[name].annotation)
    if not isinstance(items, list) or model is None:
        return INVALID
    if index >= len(items):
        return None
    try:
        return model.model_validate(items[index], context=context)
    except ValidationError:
        return INVALID


def _get(data: Any, parts: list[str], context: LoadContext) -> Any:
    item = _ITEM.match(parts[0]) if len(parts) == 1 else None
    if item:
        return _item(data, item[1], int(item[2]), context)
    model: type[BaseModel] = StrategyConfig
    node = data
    *sections, leaf = parts
    for name in sections:
        field = model.model_fields[name]
        if not isinstance(node, dict):
            return INVALID
        if name in node:
            node = node[name]
        elif field.is_required() or field.default is None:  # absent optional section: rules stay silent
            return INVALID
        else:
            node = {}
        model = section_model(field.annotation)  # type: ignore[assignment]
    if not isinstance(node, dict):
        return INVALID
    field = model.model_fields[leaf]
    if leaf not in node:
        return INVALID if field.is_required() else field.get_default(call_default_factory=True)
    try:
        return _leaf_adapter(model, leaf).validate_python(node[leaf], context=context)
    except ValidationError:
        return INVALID


def sort_issues(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Issues grouped by section, in the order sections appear in the file format (stable)."""
    order = list(StrategyConfig.model_fields)

    def key(issue: ConfigIssue) -> int:
        top = issue.path.split(".")[0].split("[")[0]
        return order.index(top) + 1 if top in order else 0

    return sorted(issues, key=key)


def validate_config(data: Any, base_dir: Path) -> tuple[StrategyConfig | None, list[ConfigIssue]]:
    """Validate a parsed strategy document; relative paths in it are read from ``base_dir``.

    Returns the config and no issues, or None and every issue found. Never raises for bad
    input, whatever its shape.
    """
    context = LoadContext(Path(base_dir).absolute())
    try:
        return StrategyConfig.model_validate(data, context=context), []
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e["type"] != RULES_ERROR]
    issues = to_issues(errors)
    if isinstance(data, dict):
        issues += check_rules(raw_lookup(data, context))
    return None, sort_issues(issues)
