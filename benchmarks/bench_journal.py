"""Write-ahead throughput of the store: orders (4 transitions + 1 fill + 1 journal entry each)
into SQLite and PostgreSQL, flushed every 1, 10, 100, 1000 store calls.

Run: .venv/bin/python benchmarks/bench_journal.py [--quick]
PostgreSQL (127.0.0.1:5432, database ``test``) is measured when reachable, in a throw-away
schema; COPY and executemany are compared for the append-only tables there.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from optrunner.core.orders import ChargeBreakdown, Fill, Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, Right, Side, Tag
from optrunner.instruments.contracts import OptionContract
from optrunner.store import Store
from optrunner.store.batch import PostgresWriter, copy_sql, insert_sql
from optrunner.store.codec import postgres_time
from optrunner.store.encoder import RowEncoder
from optrunner.store.schema import FillRow, JournalRow, OrderEventRow, OrderRow

CALLS_PER_ORDER = 6  # 4 transitions, 1 fill, 1 journal entry
LIFECYCLE = (
    (None, OrderState.NEW),
    (OrderState.NEW, OrderState.SUBMITTED),
    (OrderState.SUBMITTED, OrderState.ACCEPTED),
    (OrderState.ACCEPTED, OrderState.FILLED),
)
PG_ADMIN = "postgresql+psycopg://{user}@127.0.0.1:5432/test"
START = datetime(2026, 1, 13, 9, 15, tzinfo=IST)  # the live clock runs in IST
CONTRACTS = [OptionContract("NIFTY", date(2026, 1, 13), 24000 + 50 * k, r) for k in range(40) for r in Right]


def drive(store: Store, n_orders: int) -> tuple[float, float]:
    """Run ``n_orders`` order lifecycles through the store: (wall, CPU) seconds until durable.

    Every call carries its own timestamp (the clock moves 1 µs per call), as transitions,
    fills and journal entries of a real order happen at different instants.
    """
    tick = timedelta(microseconds=1)
    ts = START
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n_orders):
        contract = CONTRACTS[i % len(CONTRACTS)]
        order = Order(f"o{i}", "bench", Tag.ENTRY, contract, Side.SELL, 75, created_ts=ts)
        for from_state, to_state in LIFECYCLE:
            ts += tick
            order.state, order.updated_ts = to_state, ts
            if to_state is OrderState.FILLED:
                order.filled_qty, order.avg_price = 75, 101.05
            store.record_transition(order, from_state, to_state, ts)
        ts += tick
        store.save_fill(Fill(f"f{i}", order.client_id, "bench", Tag.ENTRY, contract, Side.SELL, 75,
                             101.05, ts, ChargeBreakdown(20.0, 4.73, 2.8, 0.01, 0.0, 0.0, 4.1)))  # fmt: skip
        ts += tick
        store.append("order_filled", {"client_id": order.client_id, "qty": 75}, ts, "bench")
    store.flush()
    return time.perf_counter() - t0, time.process_time() - c0


def rows_written(store: Store) -> int:
    with Session(store.engine) as s:
        return sum(s.scalar(select(func.count()).select_from(m)) for m in (OrderRow, OrderEventRow, FillRow, JournalRow))


def measure(make_store, batch: int, n_orders: int, repeats: int) -> tuple[float, float, float]:
    """Medians over fresh stores of (orders/s, rows/s, orders per CPU second)."""
    orders, rows, cpu = [], [], []
    for _ in range(repeats):
        store = make_store(batch)
        wall, cpu_seconds = drive(store, n_orders)
        orders.append(n_orders / wall)
        rows.append(rows_written(store) / wall)
        cpu.append(n_orders / cpu_seconds)
        store.close()
    return statistics.median(orders), statistics.median(rows), statistics.median(cpu)


def orm_row_per_transaction(make_store, n_orders: int) -> float:
    """Baseline the design avoids: one ORM transaction per journal row (orders/s equivalent)."""
    store = make_store(1)
    t0 = time.perf_counter()
    for i in range(n_orders * CALLS_PER_ORDER):
        with Session(store.engine) as s, s.begin():
            s.add(JournalRow(ts=START, kind="orm", strategy="bench", payload={"i": i}))
    seconds = time.perf_counter() - t0
    store.close()
    return n_orders / seconds


def sqlite_rows(quick: bool, repeats: int) -> list[tuple[str, int, float, float, float]]:
    with tempfile.TemporaryDirectory(prefix="bench_journal_") as tmp:

        def make(batch: int) -> Store:
            store = Store(f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.sqlite", batch_size=batch)
            store.create_schema()
            return store

        orm = orm_row_per_transaction(make, 100 if quick else 300)
        out = [("sqlite, ORM transaction per row", 1, orm, float("nan"), float("nan"))]
        for batch in (1, 10, 100, 1000):
            n = {1: 300, 10: 2000, 100: 5000, 1000: 5000}[batch] if quick else {1: 1000, 10: 5000, 100: 20000, 1000: 20000}[batch]
            out.append(("sqlite", batch, *measure(make, batch, n, repeats)))
    return out


def postgres_rows(quick: bool, repeats: int) -> list[tuple[str, int, float, float, float]]:
    admin = _pg_admin_url()
    if admin is None:
        print("PostgreSQL at 127.0.0.1:5432 unreachable: skipped")
        return []
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    url = f"{admin}?options=-csearch_path%3D{schema}"
    with Store(admin) as admin_store, admin_store.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    with Store(url) as store:
        store.create_schema()

    def make(batch: int) -> Store:
        store = Store(url, batch_size=batch)
        with store.engine.begin() as conn:
            conn.execute(text("TRUNCATE orders, order_events, fills, journal RESTART IDENTITY"))
        return store

    out = []
    default_copy_min = PostgresWriter.copy_min_rows
    try:
        copy_crossover(make(1), repeats)
        for batch in (1, 10, 100, 1000):
            n = {1: 100, 10: 500, 100: 3000, 1000: 5000}[batch] if quick else {1: 300, 10: 2000, 100: 10000, 1000: 20000}[batch]
            modes = [("executemany", 10**9), ("COPY", 1)] if batch > 1 else []
            modes.append((f"default (COPY >= {default_copy_min} rows)", default_copy_min))
            for mode, copy_min in modes:
                PostgresWriter.copy_min_rows = copy_min
                out.append((f"postgres {mode}", batch, *measure(make, batch, n, repeats)))
    finally:
        PostgresWriter.copy_min_rows = default_copy_min
        with Store(admin) as admin_store, admin_store.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    return out


def copy_crossover(store: Store, repeats: int) -> None:
    """Statement cost alone (no commit) of k journal rows by executemany vs COPY."""
    raw = store.engine.raw_connection()
    conn, dialect = raw.driver_connection, store.engine.dialect
    rows_of = RowEncoder(postgres_time).journal  # rows exactly as the store writes them
    print("\nPostgreSQL, one table, statement only: µs per row (median)")
    print(f"{'rows':>6}{'executemany':>13}{'COPY':>8}")
    for k in (1, 2, 5, 10, 50, 100, 1000):
        rows = [rows_of("bench", {"i": i}, START, "bench") for i in range(k)]
        timings: dict[str, list[float]] = {"many": [], "copy": []}
        with conn.cursor() as cur:
            for _ in range(max(5, 3 * repeats)):
                for mode in ("many", "copy"):
                    t0 = time.perf_counter()
                    if mode == "many":
                        cur.executemany(insert_sql(dialect, "journal", "%s"), rows)
                    else:
                        with cur.copy(copy_sql(dialect, "journal")) as copy:
                            for row in rows:
                                copy.write_row(row)
                    timings[mode].append((time.perf_counter() - t0) / k * 1e6)
        conn.rollback()
        print(f"{k:>6}{statistics.median(timings['many']):>13.1f}{statistics.median(timings['copy']):>8.1f}")
    raw.close()
    store.close()


def _pg_admin_url() -> str | None:
    for user in ("postgres", "root"):
        url = PG_ADMIN.format(user=user)
        try:
            with Store(url) as store, store.engine.connect() as conn:
                conn.execute(text("select 1"))
            return url
        except OperationalError:
            continue
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer orders and repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    results = sqlite_rows(args.quick, repeats) + postgres_rows(args.quick, repeats)
    print(f"\nmedian of {repeats} runs; each order = {CALLS_PER_ORDER} store calls "
          "(4 transitions, 1 fill, 1 journal entry); batch = calls per flush (commit).\n"
          "rows/s counts rows in orders+order_events+fills+journal afterwards (7 per order).\n"
          "CPU orders/s = orders per CPU second of this process: SQLite work included, the\n"
          "PostgreSQL server's not. It is the capacity of one free core on a noisy machine.")
    print(f"{'backend':<36}{'batch':>6}{'orders/s':>11}{'rows/s':>11}{'vs 20k/s':>9}{'CPU orders/s':>14}")
    for backend, batch, orders, rows, cpu in results:
        print(f"{backend:<36}{batch:>6}{orders:>11,.0f}{rows:>11,.0f}{orders / 20_000:>8.2f}x{cpu:>14,.0f}")


if __name__ == "__main__":
    main()
