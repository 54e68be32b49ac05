"""Persistence: SQLAlchemy 2 models, a write-ahead repository with group commit, the journal.

SQLite (WAL) is the embedded default, PostgreSQL (psycopg 3) the deployment store; both use
one schema. See :mod:`optrunner.store.store` for the durability contract.
"""

from optrunner.store.batch import StoreWriteError
from optrunner.store.engine import DEFAULT_URL
from optrunner.store.records import JournalEntry, OrderEvent, PositionRecord, StrategyConfiguration
from optrunner.store.store import URL_ENV, Store

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "JournalEntry",
    "OrderEvent",
    "PositionRecord",
    "Store",
    "StoreWriteError",
    "StrategyConfiguration",
]
