"""Strategy files as ``strategy_configurations`` rows: validated on write, files again on export.

A row written here holds the whole strategy file in ``parameters`` (the document a runner
validates again when it loads the row, ``runner_support.row_config``), under the file's
``name`` as ``id``; ``strategy_type`` and ``instruments`` (the underlying) are filled from it
so seed 004's tools see what they expect. The document is validated before anything is
written — a bad one is a ``ConfigError`` listing every problem with its JSON path — and
relative paths in it (``market_config.db_path``, ``monitoring.log_file``) are made absolute
from the file's folder, so the row means the same whichever folder a runner starts in.
``enabled`` in the document always equals the row's ``is_active``.

On PostgreSQL a trigger (installed with the store's schema, store/strategy_configs.py) sends
``NOTIFY optrunner_strategies`` for every insert, update and delete, whoever writes the row:
runners with ``--strategies db`` listen on it (strategy_db/watch.py).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from optrunner.config import ConfigError, validate_config
from optrunner.config.issues import ConfigIssue
from optrunner.store.records import StrategyConfiguration
from optrunner.store.strategy_configs import NOTIFY_CHANNEL as CHANNEL  # noqa: F401  (re-exported)

_PATHS = (("market_config", "db_path"), ("monitoring", "log_file"))


def absolute_paths(doc: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A copy of ``doc`` whose relative file paths are made absolute from ``base_dir``."""
    out = copy.deepcopy(doc)
    for section, key in _PATHS:
        part = out.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if isinstance(value, str) and value.strip() and not Path(value).expanduser().is_absolute():
            part[key] = os.path.normpath(Path(base_dir).absolute() / value)
    return out


def checked_document(doc: Any, base_dir: Path, where: str) -> dict[str, Any]:
    """``doc`` ready to store (paths absolute), or ConfigError naming every problem at its path."""
    if not isinstance(doc, dict):
        raise ConfigError(where, [ConfigIssue("(top level)", "a strategy file is a JSON object")])
    config, issues = validate_config(doc, base_dir)
    if config is None:
        raise ConfigError(where, issues)
    return absolute_paths(doc, base_dir)


def write_document(
    store: Any, doc: dict[str, Any], base_dir: Path, *, where: str, active: bool | None = None,
    zerodha_trading_enabled: bool = False,
) -> StrategyConfiguration:  # fmt: skip
    """Validate a strategy document and upsert it as the row named by its ``name``.
    ``active`` None takes the file's ``enabled``. Raises ConfigError, having written nothing."""
    checked = checked_document(doc, base_dir, where)
    is_active = bool(checked["enabled"]) if active is None else active
    checked["enabled"] = is_active
    # validated once more as stored (paths now absolute): what a runner will load
    checked_document(checked, base_dir, where)
    symbol = checked["market_config"]["symbol"]
    return store.upsert_strategy_configuration(
        checked["name"], checked["strategy"], [symbol], checked, is_active=is_active,
        zerodha_trading_enabled=zerodha_trading_enabled, use_composition=True,
    )  # fmt: skip


def set_active(store: Any, ids: Iterable[str], active: bool) -> list[str]:
    """Turn rows on or off (a file row's ``enabled`` follows); the ids that do not exist."""
    missing = []
    for id in ids:
        row = store.strategy_configuration(id)
        if row is None:
            missing.append(id)
            continue
        params = dict(row.parameters)
        if is_file_row(row):
            params["enabled"] = active
        store.set_strategy_configuration_active(id, active, parameters=params)
    return missing


def is_file_row(row: StrategyConfiguration) -> bool:
    """A row holding a whole strategy file (written here), not seed 004's composition shape."""
    return isinstance(row.parameters, dict) and "market_config" in row.parameters


def export_document(row: StrategyConfiguration) -> dict[str, Any]:
    """The strategy file a row holds (``enabled`` = the row's flag), or for a seed 004 row its
    columns as a document (``strategy_type``, ``instruments``, ``parameters``, flags)."""
    if is_file_row(row):
        return {**row.parameters, "name": row.id, "enabled": row.is_active}
    return {"id": row.id, "strategy_type": row.strategy_type, "instruments": list(row.instruments),
            "parameters": row.parameters, "is_active": row.is_active,
            "zerodha_trading_enabled": row.zerodha_trading_enabled, "use_composition": row.use_composition}  # fmt: skip
