"""The store: a write-ahead record of orders, fills, positions and strategy state.

Durability contract
===================
* ``save_order``, ``record_transition``, ``save_fill``, ``save_position``,
  ``save_strategy_state`` and ``append`` only *buffer*: they validate and encode the record
  (bad input raises there, naming the record) and add it to the pending batch. A buffered
  record is neither durable nor visible to any other connection or process.
* ``flush()`` writes the whole pending batch in **one transaction** and returns only after
  the commit. All of it is then in the database, or — if the process dies or the write
  fails first — none of it: no batch is ever partly stored. Batches become durable in the
  order they were flushed; within a table rows keep the order they were given in.
* "Durable" means: on PostgreSQL (default ``synchronous_commit=on``) the commit survives
  a crash of the client and of the server. On SQLite (WAL, ``synchronous=NORMAL``) it
  survives a crash or ``kill -9`` of the process; an OS crash or power cut may lose the
  last commits before the next WAL checkpoint, never corrupting the file. With
  ``durable=True`` (``synchronous=FULL``) every SQLite commit survives those too.
* **The caller flushes before any externally visible action** — before an order goes to a
  broker, before an acknowledgement is given out. Then a crash can lose only records of
  things that did not yet happen outside the process ("write-ahead").
* Automatic flush: when ``batch_size`` calls are pending, the call that reaches it flushes
  before returning. ``batch_size=1`` makes every call durable on return. ``close()`` (and
  leaving a ``with`` block) flushes.
* A failed flush raises :class:`StoreWriteError`, leaves nothing of the batch in the
  database and keeps the batch pending (``flush()`` again retries it; a dead PostgreSQL
  connection is replaced first). A failure in an automatic flush raises from the call
  that triggered it; that call's record is pending too.
* Loaders flush first, so a store reads its own writes.
* A ``Store`` is one writer and not thread-safe: one per writing thread, one writing
  process per SQLite file. Readers elsewhere open their own ``Store`` and never write.
  On a SQLite file its writer has a helper thread that checkpoints the WAL after flushes
  (:mod:`optrunner.store.checkpoint`): checkpoints only copy committed pages, so they
  change nothing above, and ``close()`` stops the thread.
"""

from __future__ import annotations

import os
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from optrunner.core.orders import Fill, Order
from optrunner.core.types import OrderState
from optrunner.instruments.contracts import OptionContract
from optrunner.store import codec
from optrunner.store.batch import PendingBatch, PostgresWriter, SqliteWriter, StoreWriteError
from optrunner.store.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from optrunner.store.encoder import RowEncoder
from optrunner.store.engine import DEFAULT_URL, is_memory_sqlite, make_engine
from optrunner.store.records import JournalEntry, OrderEvent, PositionRecord
from optrunner.store.schema import (
    FillRow,
    JournalRow,
    OrderEventRow,
    OrderRow,
    PositionRow,
    StrategyStateRow,
    metadata,
)
from optrunner.store.strategy_configs import StrategyConfigurations, install_notify_trigger

URL_ENV = "OPTRUNNER_STORE_URL"
_TERMINAL = [s for s in OrderState if s.is_terminal]


class Store(StrategyConfigurations):
    """Repository over SQLite (``sqlite:///file``) or PostgreSQL (``postgresql+psycopg://``)."""

    def __init__(self, url: str = DEFAULT_URL, *, batch_size: int = 1000, durable: bool = False) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.engine = make_engine(url, durable=durable)
        self.batch_size = batch_size
        self._is_postgres = self.engine.dialect.name == "postgresql"
        self._encode = RowEncoder(codec.postgres_time if self._is_postgres else codec.sqlite_time)
        self._batch = PendingBatch()
        self._versions: dict[str, int] = {}  # last state version per strategy
        self._writer: SqliteWriter | PostgresWriter | None = None
        self._writer_conn: Any = None  # the pooled connection the writer owns
        self._checkpointer: WalCheckpointer | None = None  # SQLite files: WAL checkpoints off the flush

    @classmethod
    def from_env(cls, *, batch_size: int = 1000) -> Store:
        """A store at ``$OPTRUNNER_STORE_URL``, or the default SQLite file when it is unset."""
        url = os.environ.get(URL_ENV, DEFAULT_URL)
        if not url.strip():
            raise ValueError(f"{URL_ENV} is set but empty; unset it or give a database URL")
        return cls(url, batch_size=batch_size)

    def create_schema(self) -> None:
        """Create missing tables (existing ones are left alone; migrations come later); on
        PostgreSQL also the trigger that announces strategy configuration changes."""
        metadata.create_all(self.engine)
        install_notify_trigger(self.engine)

    # -- write-ahead buffer -------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Calls buffered since the last successful flush."""
        return self._batch.records

    def save_order(self, order: Order) -> None:
        """Upsert the order's current state (coalesced with earlier saves in the batch)."""
        snapshot = self._encode.order_snapshot(order)
        self._batch.orders[snapshot[0]] = snapshot
        self._added()

    def record_transition(
        self, order: Order, from_state: OrderState | None, to_state: OrderState, ts: datetime,
        reason: str = "",
    ) -> None:  # fmt: skip
        """Journal a transition the order manager has applied to ``order`` (and save the order).

        ``order.state`` must already be ``to_state``: mutate, record, flush, then act.
        ``from_state`` is None for the creation event.
        """
        if order.state is not to_state and order.state != to_state:
            raise ValueError(
                f"order {order.client_id!r} is in {order.state} but the transition is to "
                f"{to_state}: apply the transition to the order before recording it"
            )
        snapshot, event = self._encode.transition(order, from_state, to_state, ts, reason)
        batch = self._batch
        batch.orders[snapshot[0]] = snapshot
        batch.events += event
        batch.records += 1
        if batch.records >= self.batch_size:
            self.flush()

    def save_fill(self, fill: Fill) -> None:
        """Record an execution. ``fill_id`` is unique: the same id twice in a batch raises
        here; an id already in the database fails the flush (deduplicate re-delivered fills
        before saving them — a silent skip could hide a different fill under a reused id)."""
        batch = self._batch
        if fill.fill_id in batch.fill_ids:
            raise ValueError(f"fill {fill.fill_id!r} was already saved in this batch")
        batch.fills += self._encode.fill(fill)
        batch.fill_ids.add(fill.fill_id)
        self._added()

    def save_position(
        self, strategy: str, contract: OptionContract, net_qty: int, avg_price: float,
        realized_pnl: float, charges: float, ts: datetime,
    ) -> None:  # fmt: skip
        """Upsert a strategy's net position in a contract (signed: + long, - short)."""
        row = self._encode.position(strategy, contract, net_qty, avg_price, realized_pnl, charges, ts)
        self._batch.positions[(strategy, row[1])] = row
        self._added()

    def save_strategy_state(self, name: str, state: dict[str, Any], ts: datetime) -> int:
        """Add a new version of a strategy's state (history is kept); returns the version."""
        version = self._last_version(name) + 1
        self._batch.states.append(self._encode.state(name, version, state, ts))
        self._versions[name] = version
        self._added()
        return version

    def append(
        self, kind: str, payload: dict[str, Any], ts: datetime, strategy: str | None = None
    ) -> None:
        """Add an entry to the event journal; its ``seq`` is assigned when it is flushed."""
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"journal kind must be a non-empty string, got {kind!r}")
        self._batch.journal.append(self._encode.journal(kind, payload, ts, strategy))
        self._added()

    def _added(self) -> None:
        self._batch.records += 1
        if self._batch.records >= self.batch_size:
            self.flush()

    def flush(self) -> int:
        """Commit every pending record in one transaction; returns how many calls it held."""
        batch = self._batch
        if not batch.records:
            return 0
        tables = batch.tables(self._encode.order_rows)
        writer = self._writer or self._open_writer()
        try:
            writer.write(tables)
        except StoreWriteError:
            if getattr(self._writer_conn.driver_connection, "closed", False):
                self._release_writer(invalidate=True)
            raise
        if self._checkpointer is not None:
            self._checkpointer.poke()
        self._batch = PendingBatch()
        return batch.records

    def close(self) -> None:
        """Flush, then release every connection. A failed flush still releases and re-raises."""
        try:
            self.flush()
        finally:
            self._release_writer()
            self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_writer(self) -> SqliteWriter | PostgresWriter:
        self._writer_conn = self.engine.raw_connection()
        dbapi_conn = self._writer_conn.driver_connection
        if self._is_postgres:
            self._writer = PostgresWriter(dbapi_conn, self.engine.dialect)
            return self._writer
        self._writer = SqliteWriter(dbapi_conn, self.engine.dialect)
        if not is_memory_sqlite(self.engine.url):
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            self._checkpointer = WalCheckpointer(self.engine.url.database)
            weakref.finalize(self, self._checkpointer.stop)  # a store dropped without close()
        return self._writer

    def _release_writer(self, invalidate: bool = False) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._writer_conn is not None:
            if invalidate:
                self._writer_conn.invalidate()
            self._writer_conn.close()
        self._writer, self._writer_conn = None, None

    def _last_version(self, name: str) -> int:
        if name not in self._versions:
            query = select(func.max(StrategyStateRow.version)).where(StrategyStateRow.strategy == name)
            with self.engine.connect() as conn:
                self._versions[name] = conn.execute(query).scalar() or 0
        return self._versions[name]

    # -- loaders (recovery) -------------------------------------------------------------

    def _rows(self, query: Any) -> list[Any]:
        self.flush()
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def load_orders(self, open_only: bool = False) -> list[Order]:
        """Orders by creation time; ``open_only`` keeps those not in a terminal state."""
        t = OrderRow.__table__
        query = select(t).order_by(t.c.created_ts.asc().nulls_first(), t.c.client_id)
        if open_only:
            query = query.where(t.c.state.not_in(_TERMINAL))
        return [codec.order_from_row(r) for r in self._rows(query)]

    def load_order_events(self, client_id: str | None = None) -> list[OrderEvent]:
        """Transitions in the order they were recorded, of one order or of all."""
        t = OrderEventRow.__table__
        query = select(t).order_by(t.c.id)
        if client_id is not None:
            query = query.where(t.c.client_id == client_id)
        return [codec.event_from_row(r) for r in self._rows(query)]

    def load_fills(self, strategy: str | None = None) -> list[Fill]:
        """Fills in the order they were saved, of one strategy or of all."""
        t = FillRow.__table__
        query = select(t).order_by(t.c.id)
        if strategy is not None:
            query = query.where(t.c.strategy == strategy)
        return [codec.fill_from_row(r) for r in self._rows(query)]

    def load_positions(self) -> list[PositionRecord]:
        t = PositionRow.__table__
        query = select(t).order_by(t.c.strategy, t.c.contract)
        return [codec.position_from_row(r) for r in self._rows(query)]

    def latest_strategy_states(self) -> dict[str, dict[str, Any]]:
        """The highest-version state of every strategy that saved one."""
        t = StrategyStateRow.__table__
        latest = (
            select(t.c.strategy, func.max(t.c.version).label("version"))
            .group_by(t.c.strategy)
            .subquery()
        )
        query = select(t.c.strategy, t.c.state).join(
            latest, (t.c.strategy == latest.c.strategy) & (t.c.version == latest.c.version)
        )
        return {r.strategy: r.state for r in self._rows(query)}

    def journal(self, since_seq: int = 0) -> list[JournalEntry]:
        """Journal entries with ``seq > since_seq``, in append order (resume from the last seen)."""
        t = JournalRow.__table__
        query = select(t).where(t.c.seq > since_seq).order_by(t.c.seq)
        return [codec.journal_from_row(r) for r in self._rows(query)]
