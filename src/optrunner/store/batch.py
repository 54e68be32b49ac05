"""Group commit: rows pending per table, written to the database in one transaction.

The writers talk to the DBAPI connection directly (sqlite3 / psycopg) because at tens of
thousands of rows per second SQLAlchemy's per-row work costs more than the database's:
rows arrive here already encoded by :mod:`optrunner.store.encoder`.

Within a batch, upserted rows (orders, positions) coalesce to the latest row per key and
are written first, so every transition's order row exists when its ``order_events`` row is
inserted (the foreign key holds inside the transaction). Append-only rows keep their order.

The append-only tables written per order (order_events, fills) are kept *flat*: one list
of values, row after row, and rows are cut from it as the driver reads them. A tuple per
record, alive until the flush, is a container the cyclic garbage collector counts: on the
order benchmark those tuples made it run twice as often, about 10 µs per order. (Orders
coalesce to one snapshot each, so they stay a dict of tuples.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Dialect, Table

from optrunner.store import codec, schema

Rows = Iterable[Sequence[Any]]
TableRows = tuple[str, int, Rows]  # (name, number of rows, the rows: read once, by one write)
EVENT_WIDTH = len(codec.EVENT_COLUMNS)
FILL_WIDTH = len(codec.FILL_COLUMNS)
OrderRows = Callable[[Iterable[tuple[Any, ...]]], Rows]


@dataclass(slots=True)
class PendingBatch:
    """Rows handed to the store since the last successful flush (see the module docstring)."""

    orders: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # client_id -> snapshot
    events: list[Any] = field(default_factory=list)  # EVENT_WIDTH values per transition
    fills: list[Any] = field(default_factory=list)  # FILL_WIDTH values per fill
    fill_ids: set[str] = field(default_factory=set)
    positions: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    states: list[tuple[Any, ...]] = field(default_factory=list)
    journal: list[tuple[Any, ...]] = field(default_factory=list)
    records: int = 0  # calls that added to the batch, coalesced or not (drives autoflush)

    def tables(self, order_rows: OrderRows) -> list[TableRows]:
        """Rows per table in write order: upserts first, so the foreign keys hold.

        Orders are kept as snapshots and encoded here by ``order_rows``, once per batch.
        """
        return [
            ("orders", len(self.orders), order_rows(self.orders.values())),
            ("positions", len(self.positions), list(self.positions.values())),
            ("order_events", len(self.events) // EVENT_WIDTH, _cut(self.events, EVENT_WIDTH)),
            ("fills", len(self.fills) // FILL_WIDTH, _cut(self.fills, FILL_WIDTH)),
            ("strategy_states", len(self.states), self.states),
            ("journal", len(self.journal), self.journal),
        ]


def _cut(flat: list[Any], width: int) -> Rows:
    """Rows of ``width`` values from a flat list (zip reuses its tuple: no garbage per row)."""
    return zip(*[iter(flat)] * width, strict=True)


UPSERT_TABLES = ("orders", "positions")
APPEND_TABLES = ("order_events", "fills", "strategy_states", "journal")
COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": codec.ORDER_COLUMNS,
    "positions": codec.POSITION_COLUMNS,
    "order_events": codec.EVENT_COLUMNS,
    "fills": codec.FILL_COLUMNS,
    "strategy_states": codec.STATE_COLUMNS,
    "journal": codec.JOURNAL_COLUMNS,
}


class StoreWriteError(RuntimeError):
    """A flush failed: its transaction was rolled back and the batch is still pending."""


def _names(dialect: Dialect, table: str, columns: tuple[str, ...]) -> tuple[str, str]:
    quote = dialect.identifier_preparer.quote
    return quote(table), ", ".join(quote(c) for c in columns)


def insert_sql(dialect: Dialect, table: str, placeholder: str) -> str:
    columns = COLUMNS[table]
    name, cols = _names(dialect, table, columns)
    return f"INSERT INTO {name} ({cols}) VALUES ({', '.join([placeholder] * len(columns))})"


def upsert_sql(dialect: Dialect, table: str, placeholder: str) -> str:
    """INSERT .. ON CONFLICT (primary key) DO UPDATE: the same text on SQLite and PostgreSQL."""
    quote = dialect.identifier_preparer.quote
    key = [c.name for c in _table(table).primary_key.columns]
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in COLUMNS[table] if c not in key)
    keys = ", ".join(quote(c) for c in key)
    return f"{insert_sql(dialect, table, placeholder)} ON CONFLICT ({keys}) DO UPDATE SET {updates}"


def copy_sql(dialect: Dialect, table: str) -> str:
    name, cols = _names(dialect, table, COLUMNS[table])
    return f"COPY {name} ({cols}) FROM STDIN"


def _table(name: str) -> Table:
    return schema.metadata.tables[name]


class _Writer:
    """One transaction per batch; any failure rolls it back and names the step that failed."""

    def __init__(self, dbapi_conn: Any) -> None:
        self._conn = dbapi_conn

    def _begin(self) -> None:
        """Start the transaction (drivers that begin implicitly need nothing)."""

    def _steps(self, tables: list[TableRows]) -> list[tuple[str, Callable[[], object]]]:
        raise NotImplementedError

    def _rollback(self) -> None:
        self._conn.rollback()

    def write(self, tables: list[TableRows]) -> None:
        """Write ``PendingBatch.tables()`` in one transaction; on failure nothing is written."""
        step = "begin"
        try:
            self._begin()
            for table, run in self._steps(tables):
                step = table
                run()
            step = "commit"
            self._conn.commit()
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, Exception):
                raise StoreWriteError(
                    f"flush failed at {step!r}; rolled back, the batch is still pending: {exc}"
                ) from exc
            raise


class SqliteWriter(_Writer):
    """Writes a batch as one ``BEGIN IMMEDIATE`` .. ``COMMIT`` on a sqlite3 connection.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so a competing writer waits
    (``busy_timeout``) at the start instead of failing half-way through the batch.
    """

    def __init__(self, dbapi_conn: Any, dialect: Dialect) -> None:
        super().__init__(dbapi_conn)
        self._sql = {t: upsert_sql(dialect, t, "?") for t in UPSERT_TABLES}
        self._sql |= {t: insert_sql(dialect, t, "?") for t in APPEND_TABLES}

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def _steps(self, tables: list[TableRows]) -> list[tuple[str, Callable[[], object]]]:
        many = self._conn.executemany
        return [(t, partial(many, self._sql[t], rows)) for t, n, rows in tables if n]


class PostgresWriter(_Writer):
    """Writes a batch in one psycopg transaction: upserts by executemany, appends by COPY.

    Measured here (benchmarks/bench_journal.py, statement cost per row): COPY ~5 µs
    against ~13-15 µs for executemany from 50 rows up; they break even near 10 rows and
    below that COPY's set-up makes it dearer, hence ``copy_min_rows``. Upserts need
    ``ON CONFLICT``, which COPY lacks; psycopg pipelines their executemany.
    """

    copy_min_rows = 10

    def __init__(self, dbapi_conn: Any, dialect: Dialect) -> None:
        super().__init__(dbapi_conn)
        self._insert = {t: upsert_sql(dialect, t, "%s") for t in UPSERT_TABLES}
        self._insert |= {t: insert_sql(dialect, t, "%s") for t in APPEND_TABLES}
        self._copy = {t: copy_sql(dialect, t) for t in APPEND_TABLES}
        self._cur = dbapi_conn.cursor()

    def _rollback(self) -> None:
        if not self._conn.closed:
            self._conn.rollback()

    def _steps(self, tables: list[TableRows]) -> list[tuple[str, Callable[[], object]]]:
        cur = self._cur
        steps: list[tuple[str, Callable[[], object]]] = []
        for table, n, rows in tables:
            if table in self._copy and n >= self.copy_min_rows:
                steps.append((table, partial(_copy, cur, self._copy[table], rows)))
            elif n:
                steps.append((table, partial(cur.executemany, self._insert[table], rows)))
        return steps


def _copy(cursor: Any, sql: str, rows: Rows) -> None:
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
