"""Engines for the store's two backends, with the settings every SQLite connection needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite:///optrunner.sqlite"
SQLITE_BUSY_TIMEOUT_MS = 5000

# Set on every connection: SQLite forgets foreign_keys, synchronous and busy_timeout per
# connection. WAL lets readers (API, dashboards) run while the trading process writes;
# synchronous=NORMAL in WAL mode keeps every commit across a process crash (the WAL is
# synced at checkpoints, so only an OS crash or power cut can lose the latest commits).
SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)
# ``durable=True`` (``optrunner run --durable``): every commit is synced to disk before it
# returns, so it survives an OS crash or power cut too — at the price of an fsync per flush.
SQLITE_PRAGMAS_DURABLE = tuple(p.replace("synchronous=NORMAL", "synchronous=FULL") for p in SQLITE_PRAGMAS)


def parse_store_url(url: str) -> URL:
    """Accept only ``sqlite:///path`` (or ``sqlite://`` in memory) and PostgreSQL via psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"store URL {url!r} is not a database URL") from exc
    kind = (parsed.get_backend_name(), parsed.get_driver_name())
    if kind not in {("sqlite", "pysqlite"), ("postgresql", "psycopg")}:
        raise ValueError(
            f"store URL {parsed.render_as_string(hide_password=True)!r}: use "
            "sqlite:///path/to/file.sqlite or postgresql+psycopg://user@host/db"
        )
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(url: str, *, durable: bool = False) -> Engine:
    """An engine for ``url``; ``durable`` makes SQLite commits survive power loss (synchronous=FULL)."""
    parsed = parse_store_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    kwargs: dict[str, Any] = {}
    if is_memory_sqlite(parsed):
        # One shared connection, or every checkout would see its own empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas_durable if durable else _sqlite_pragmas)
    return engine


def _sqlite_pragmas_durable(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record, SQLITE_PRAGMAS_DURABLE)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, pragmas: tuple[str, ...] = SQLITE_PRAGMAS) -> None:
    cursor = dbapi_conn.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(pragma)
    finally:
        cursor.close()
