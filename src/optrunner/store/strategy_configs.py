"""CRUD for ``strategy_configurations``: which strategies run, with what, on which broker.

Each call is its own committed transaction, outside the write-ahead batch: configuration
changes are rare, come from operators, and must be visible to a runner as soon as the call
returns.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from optrunner.store.codec import from_db_time, json_text, utc
from optrunner.store.records import StrategyConfiguration
from optrunner.store.schema import StrategyConfigurationRow

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "optrunner_strategies"


def install_notify_trigger(engine: Engine) -> bool:
    """Make every change to ``strategy_configurations`` send ``NOTIFY optrunner_strategies``
    (payload ``INSERT:id``, ``UPDATE:id`` or ``DELETE:id``), whoever writes the row — our
    commands, psql, seed 004's scripts. PostgreSQL only (False elsewhere: SQLite runners
    poll); idempotent, so ``create_schema`` runs it every time."""
    if engine.dialect.name != "postgresql":
        return False
    exists = text("SELECT 1 FROM pg_trigger WHERE tgname = 'optrunner_strategies_notify' "
                  "AND tgrelid = to_regclass('strategy_configurations')")  # fmt: skip
    try:
        with engine.begin() as conn:
            if conn.execute(exists).first() is not None:
                return True
            conn.execute(text(f"""
                CREATE OR REPLACE FUNCTION optrunner_strategies_notify() RETURNS trigger AS $$
                BEGIN
                    PERFORM pg_notify('{NOTIFY_CHANNEL}', TG_OP || ':' || COALESCE(NEW.id, OLD.id));
                    RETURN NULL;
                END $$ LANGUAGE plpgsql"""))
            conn.execute(text("""
                CREATE OR REPLACE TRIGGER optrunner_strategies_notify
                AFTER INSERT OR UPDATE OR DELETE ON strategy_configurations
                FOR EACH ROW EXECUTE FUNCTION optrunner_strategies_notify()"""))
    except DBAPIError as exc:  # e.g. two stores creating it at once: runners still re-read every 30 s
        log.warning("strategy_configurations NOTIFY trigger not installed: %s", str(exc.orig).strip().splitlines()[0])
        return False
    return True


def _config_from_row(row: StrategyConfigurationRow) -> StrategyConfiguration:
    return StrategyConfiguration(
        id=row.id,
        strategy_type=row.strategy_type,
        instruments=row.instruments,
        parameters=row.parameters,
        is_active=row.is_active,
        zerodha_trading_enabled=row.zerodha_trading_enabled,
        use_composition=row.use_composition,
        created_at=from_db_time(row.created_at),
        updated_at=from_db_time(row.updated_at),
    )


def _checked_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"strategy configuration {what} must be a non-empty string, got {value!r}")
    return value


def _checked_flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"strategy configuration {what} must be True or False, got {value!r}")
    return value


class StrategyConfigurations:
    """Mixed into :class:`~optrunner.store.Store`; needs only its ``engine``."""

    engine: Engine

    def upsert_strategy_configuration(
        self,
        id: str,
        strategy_type: str,
        instruments: list[Any],
        parameters: dict[str, Any],
        *,
        is_active: bool = True,
        zerodha_trading_enabled: bool = False,
        use_composition: bool = True,
        ts: datetime | None = None,
    ) -> StrategyConfiguration:
        """Insert or replace a configuration; ``created_at`` survives updates.

        ``zerodha_trading_enabled`` False (the default) routes the strategy to paper.
        ``ts`` defaults to now; it sets ``updated_at`` (and ``created_at`` on insert).
        """
        where = f"strategy configuration {id!r}"
        values = {
            "strategy_type": _checked_text(strategy_type, "strategy_type"),
            "instruments": instruments,
            "parameters": parameters,
            "is_active": _checked_flag(is_active, "is_active"),
            "zerodha_trading_enabled": _checked_flag(zerodha_trading_enabled, "zerodha_trading_enabled"),
            "use_composition": _checked_flag(use_composition, "use_composition"),
        }
        json_text(instruments, f"{where} instruments", list)
        json_text(parameters, f"{where} parameters", dict)
        now = utc(ts, f"{where} ts") if ts is not None else datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            row = session.get(StrategyConfigurationRow, _checked_text(id, "id"))
            if row is None:
                row = StrategyConfigurationRow(id=id, created_at=now)
                session.add(row)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            session.flush()
            return _config_from_row(row)

    def strategy_configuration(self, id: str) -> StrategyConfiguration | None:
        with Session(self.engine) as session:
            row = session.get(StrategyConfigurationRow, id)
            return None if row is None else _config_from_row(row)

    def active_strategy_configurations(self) -> list[StrategyConfiguration]:
        """Rows with ``is_active`` true, by id: what a runner loads at start-up."""
        query = (
            select(StrategyConfigurationRow)
            .where(StrategyConfigurationRow.is_active.is_(True))
            .order_by(StrategyConfigurationRow.id)
        )
        with Session(self.engine) as session:
            return [_config_from_row(row) for row in session.scalars(query)]

    def all_strategy_configurations(self) -> list[StrategyConfiguration]:
        """Every row, active or not, by id (``optrunner strategies list``, the change watcher)."""
        query = select(StrategyConfigurationRow).order_by(StrategyConfigurationRow.id)
        with Session(self.engine) as session:
            return [_config_from_row(row) for row in session.scalars(query)]

    def set_strategy_configuration_active(
        self, id: str, is_active: bool, *, parameters: dict[str, Any] | None = None, ts: datetime | None = None
    ) -> bool:
        """Turn a row on or off (``parameters`` replaces its document in the same write, e.g. to
        keep a file's ``enabled`` in step); False if there is no row with that id."""
        now = utc(ts, f"strategy configuration {id!r} ts") if ts is not None else datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            row = session.get(StrategyConfigurationRow, id)
            if row is None:
                return False
            row.is_active = _checked_flag(is_active, "is_active")
            if parameters is not None:
                json_text(parameters, f"strategy configuration {id!r} parameters", dict)
                row.parameters = parameters
            row.updated_at = now
            return True

    def delete_strategy_configuration(self, id: str) -> bool:
        """Remove a configuration; False if there was none with that id."""
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                delete(StrategyConfigurationRow).where(StrategyConfigurationRow.id == id)
            )
            return bool(result.rowcount)
