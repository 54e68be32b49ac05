"""Durability notes made true: checkpoints pruned to the newest N, ``--durable`` SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from optrunner.live.recovery import CHECKPOINT, latest_checkpoint, prune_checkpoints
from optrunner.store import Store


def test_pruning_keeps_the_newest_checkpoints_and_nothing_else_goes(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.create_schema()
    ts = datetime(2026, 11, 16, 4, 0, tzinfo=UTC)
    for k in range(10):
        store.append(CHECKPOINT, {"version": 1, "n": k}, ts)
        store.append("note", {"n": k}, ts)
    store.flush()
    assert prune_checkpoints(store, 3) == 7
    kinds = [(e.kind, e.payload["n"]) for e in store.journal()]
    assert [n for kind, n in kinds if kind == CHECKPOINT] == [7, 8, 9]
    assert [n for kind, n in kinds if kind == "note"] == list(range(10))
    assert latest_checkpoint(store).payload["n"] == 9
    assert prune_checkpoints(store, 3) == 0


def test_durable_store_syncs_every_commit(tmp_path):
    for durable, expected in ((False, 1), (True, 2)):  # NORMAL = 1, FULL = 2
        store = Store(f"sqlite:///{tmp_path / f'd{durable}.sqlite'}", durable=durable)
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar() == expected
        store.close()
