"""The strategy file's JSON Schema, for editors and for `optrunner schema`."""

from __future__ import annotations

from typing import Any

from optrunner.config.strategy import StrategyConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def strategy_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a strategy file, with every field described."""
    schema = StrategyConfig.model_json_schema(mode="validation")
    schema["title"] = "optrunner strategy file"
    return {"$schema": SCHEMA_DIALECT, **schema}
