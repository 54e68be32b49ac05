"""DuckDB over a catalog's Parquet partitions: views ``chains`` and ``bars``, macro ``chain_day``.

The views read ``symbol=*/date=*`` with hive partitioning, so ``symbol`` and ``date`` are
columns and a filter on them skips other files — but DuckDB still lists every partition on
each query. ``chain_day(symbol, date)`` names the one file, which halves a per-day query.
The session time zone is Asia/Kolkata, so ``hour(ts)`` and ``ts::DATE`` are IST.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from optrunner.data.schema import BAR_SCHEMA, CHAIN_SCHEMA

# union_by_name: day files written before a column existed (iv_source) read it as NULL
_HIVE = "hive_partitioning = true, hive_types = {'symbol': VARCHAR, 'date': DATE}, union_by_name = true"


class CatalogSQL:
    """One in-memory DuckDB connection with the catalog's views (raises ``duckdb.Error``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'Asia/Kolkata'")
        base = _sql_text(root / "chains")
        self.con.execute(
            f"CREATE MACRO chain_day(sym, d) AS TABLE SELECT * FROM read_parquet('{base}/symbol=' "
            "|| upper(sym) || '/date=' || CAST(CAST(d AS DATE) AS VARCHAR) || '/part-0.parquet')"
        )
        self._bound: set[str] = set()  # views over files; an empty one is re-checked each query

    def query(self, sql: str) -> pa.Table:
        for view, schema in (("chains", CHAIN_SCHEMA), ("bars", BAR_SCHEMA)):
            if view not in self._bound:
                self._bind(view, schema)
        return self.con.sql(sql).to_arrow_table()

    def _bind(self, view: str, schema: pa.Schema) -> None:
        if any((self.root / view).glob("symbol=*/date=*/*.parquet")):
            # the glob is expanded at every query, so files written later are seen
            glob = _sql_text(self.root / view / "symbol=*" / "date=*" / "*.parquet")
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet('{glob}', {_HIVE})")
            self._bound.add(view)
        else:  # no files yet (read_parquet would fail): an empty view of the same shape
            empty = schema.append(pa.field("symbol", pa.string())).append(pa.field("date", pa.date32()))
            self.con.register(f"_empty_{view}", empty.empty_table())
            self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM _empty_{view}")


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")
