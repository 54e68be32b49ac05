"""Group commit: rows pending per table, written to the database in one transaction.

The writers talk to the DBAPI connection directly (sqlite3 / psycopg) because at tens of
thousands of rows per second SQLAlchemy's per-row work costs more than the database's:
rows arrive here already encoded by :mod:`optrunner.store.encoder`.

Within a batch, upserted rows (orders, positions) coalesce to the latest row per key and
are written first, so every transition's order row exists when its ``order_events`` row is
inserted (the foreign key holds inside the transaction). Append-only rows keep their order.

The append-only tables written per order (order_events, fills) are kept *flat*: one list
of values, row after row. A tuple per record, alive until the flush, is a container the
cyclic garbage collector counts: on the order benchmark those tuples made it run twice as
often, about 10 µs per order. (Orders coalesce to one snapshot each, so they stay a dict of
tuples.) A flush hands every table over flat too (:class:`TableBatch`).

SQLite writes them with multi-row statements, ``INSERT .. VALUES (..), (..), ..`` of up to
``SqliteWriter.rows_per_statement`` rows bound straight from the flat list, instead of
``executemany`` of one row at a time: measured on the rows of the order benchmark, 15 µs
of SQLite time per order instead of 19 (events and fills nearly halve; the step and reset
of a statement per row was the cost). Statements come in a few sizes only (the full size,
then powers of two for the rest), so the driver's statement cache keeps them prepared.
PostgreSQL cuts the rows back out for ``executemany`` and COPY.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import Any

from sqlalchemy import Dialect, Table

from optrunner.core.fastinit import fast_frozen_init
from optrunner.store import codec, schema

Rows = Iterable[Sequence[Any]]
OrderRows = Callable[[Iterable[tuple[Any, ...]]], Rows]


@fast_frozen_init  # a flush of one order builds a few: the frozen __init__ showed there
@dataclass(slots=True, frozen=True)
class TableBatch:
    """The rows of one table in a flush, flat: ``width`` values per row, row after row."""

    name: str
    width: int
    values: list[Any]

    @property
    def count(self) -> int:
        return len(self.values) // self.width

    def rows(self) -> Rows:
        """The rows as tuples (zip reuses its tuple when the reader drops it: no garbage per row)."""
        return zip(*[iter(self.values)] * self.width, strict=True)


def _flat(rows: Rows) -> list[Any]:
    return list(chain.from_iterable(rows))


@dataclass(slots=True)
class PendingBatch:
    """Rows handed to the store since the last successful flush (see the module docstring)."""

    orders: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # client_id -> snapshot
    events: list[Any] = field(default_factory=list)  # one order_events row per transition, flat
    fills: list[Any] = field(default_factory=list)  # one fills row per fill, flat
    fill_ids: set[str] = field(default_factory=set)
    positions: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    states: list[tuple[Any, ...]] = field(default_factory=list)
    journal: list[tuple[Any, ...]] = field(default_factory=list)
    records: int = 0  # calls that added to the batch, coalesced or not (drives autoflush)

    def tables(self, order_rows: OrderRows) -> list[TableBatch]:
        """The tables with rows, in write order: upserts first, so the foreign keys hold.

        Orders are kept as snapshots and encoded here by ``order_rows``, once per batch.
        """
        tables = (  # an empty table costs nothing: `and` skips encoding it
            ("orders", self.orders and _flat(order_rows(self.orders.values()))),
            ("positions", self.positions and _flat(self.positions.values())),
            ("order_events", self.events),
            ("fills", self.fills),
            ("strategy_states", self.states and _flat(self.states)),
            ("journal", self.journal and _flat(self.journal)),
        )
        return [TableBatch(name, len(COLUMNS[name]), values) for name, values in tables if values]


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


def insert_sql(dialect: Dialect, table: str, placeholder: str, rows: int = 1) -> str:
    """INSERT of ``rows`` rows (one ``VALUES`` tuple each)."""
    columns = COLUMNS[table]
    name, cols = _names(dialect, table, columns)
    row = f"({', '.join([placeholder] * len(columns))})"
    return f"INSERT INTO {name} ({cols}) VALUES {', '.join([row] * rows)}"


def upsert_sql(dialect: Dialect, table: str, placeholder: str, rows: int = 1) -> str:
    """INSERT .. ON CONFLICT (primary key) DO UPDATE: the same text on SQLite and PostgreSQL."""
    quote = dialect.identifier_preparer.quote
    key = [c.name for c in _table(table).primary_key.columns]
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in COLUMNS[table] if c not in key)
    keys = ", ".join(quote(c) for c in key)
    return f"{insert_sql(dialect, table, placeholder, rows)} ON CONFLICT ({keys}) DO UPDATE SET {updates}"


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

    def _steps(self, tables: list[TableBatch]) -> list[tuple[str, Callable[[], object]]]:
        raise NotImplementedError

    def _rollback(self) -> None:
        self._conn.rollback()

    def write(self, tables: list[TableBatch]) -> None:
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
    """Writes a batch as one ``BEGIN IMMEDIATE`` .. ``COMMIT`` on a sqlite3 connection, in
    multi-row statements (see the module docstring).

    ``BEGIN IMMEDIATE`` takes the write lock up front, so a competing writer waits
    (``busy_timeout``) at the start instead of failing half-way through the batch.
    """

    rows_per_statement = 128  # 100 to 1,000 measured alike; smaller prepares less SQL

    def __init__(self, dbapi_conn: Any, dialect: Dialect) -> None:
        super().__init__(dbapi_conn)
        self._dialect = dialect
        self._statements: dict[tuple[str, int], str] = {}
        # a statement binds at most this many values (SQLite's own limit: 32,766 by default)
        self._max_values = dbapi_conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def _steps(self, tables: list[TableBatch]) -> list[tuple[str, Callable[[], object]]]:
        return [(t.name, partial(self._insert, t)) for t in tables]

    def _insert(self, table: TableBatch) -> None:
        execute, values, width = self._conn.execute, table.values, table.width
        most = max(1, min(self.rows_per_statement, self._max_values // width))
        start, left = 0, table.count
        while left:
            k = most if left >= most else 1 << (left.bit_length() - 1)  # the full size, then powers of two
            end = start + k * width
            execute(self._statement(table.name, k), values[start:end])
            start, left = end, left - k

    def _statement(self, table: str, rows: int) -> str:
        sql = self._statements.get((table, rows))
        if sql is None:
            make = upsert_sql if table in UPSERT_TABLES else insert_sql
            sql = self._statements[(table, rows)] = make(self._dialect, table, "?", rows)
        return sql


class PostgresWriter(_Writer):
    """Writes a batch in one psycopg transaction: upserts by executemany, appends by COPY.

    Measured here (benchmarks/bench_journal.py, statement cost per row): COPY ~5 µs
    against ~13-15 µs for executemany from 50 rows up; they break even near 10 rows and
    below that COPY's set-up makes it dearer, hence ``copy_min_rows``. Upserts need
    ``ON CONFLICT``, which COPY lacks; psycopg pipelines their executemany. (SQLite's
    multi-row statements were tried here too: at 1,000 calls per flush they halved the
    PostgreSQL throughput, 12.9k -> 6.8k orders/s, against pipelined executemany.)
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

    def _steps(self, tables: list[TableBatch]) -> list[tuple[str, Callable[[], object]]]:
        cur = self._cur
        steps: list[tuple[str, Callable[[], object]]] = []
        for t in tables:
            if t.name in self._copy and t.count >= self.copy_min_rows:
                steps.append((t.name, partial(_copy, cur, self._copy[t.name], t.rows())))
            else:
                steps.append((t.name, partial(cur.executemany, self._insert[t.name], t.rows())))
        return steps


def _copy(cursor: Any, sql: str, rows: Rows) -> None:
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
