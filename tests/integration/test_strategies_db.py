"""Strategies from the ``strategy_configurations`` table: `optrunner strategies ...` validates on
write, and a paper session with ``--strategies db`` follows the table while it runs — SQLite by
polling, PostgreSQL by LISTEN/NOTIFY — swapping strategies between two inputs: a new row is
added, a changed one replaced, a disabled one holding positions drained (exits only) and
removed once flat; a row edited into something invalid leaves its strategy as it was."""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from optrunner.cli import app
from optrunner.config import ConfigError
from optrunner.data.synthetic import generate
from optrunner.live.commands import open_paper_session
from optrunner.store import Store
from optrunner.strategy_db.rows import set_active, write_document

DAY = date(2026, 11, 16)
DOC = {
    "name": "A", "enabled": True, "strategy": "dnss",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY"},
    "entry": {"entry_time": "09:17", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "delta_tolerance": 0.1,
              "quantity": 1},
    "adjustment": {"enabled": True, "delta_drift_trigger": 0.1, "cooldown_seconds": 60},
    "exit": {"exit_time": "15:00", "time_exit_override": True},
}  # fmt: skip


def doc(name: str, **entry: Any) -> dict[str, Any]:
    d = copy.deepcopy(DOC)
    d["name"] = name
    d["entry"].update(entry)
    return d


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sdb")
    generate("NIFTY", DAY, DAY, seed=11, out=root / "catalog", strikes_each_side=10, progress=False)
    return root / "catalog"


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["strategies", *args])


# --- the command line ---------------------------------------------------------------------------


def test_import_validates_every_file_before_writing_anything(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(doc("GOOD")))
    broken = doc("BAD", target_ce_delta=1.5)
    broken["exit"]["exit_time"] = "25:00"
    bad.write_text(json.dumps(broken))
    r = cli("import", str(good), str(bad), "--store", url)
    assert r.exit_code == 2, r.output
    assert "entry.target_ce_delta" in r.output and "exit.exit_time" in r.output  # JSON paths
    assert "nothing written" in r.output
    assert json.loads(cli("list", "--store", url, "--json").output) == []  # not even the good one
    r = cli("import", str(good), "--store", url)
    assert r.exit_code == 0, r.output
    [row] = json.loads(cli("list", "--store", url, "--json").output)
    assert (row["id"], row["strategy"], row["instruments"], row["active"], row["broker"]) == (
        "GOOD", "dnss", ["NIFTY"], True, "paper")  # fmt: skip


def test_write_document_refuses_an_invalid_document_and_keeps_the_row(tmp_path):
    with Store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        store.create_schema()
        write_document(store, doc("X"), tmp_path, where="X")
        with pytest.raises(ConfigError, match=r"entry\.quantity"):
            write_document(store, doc("X", quantity=0), tmp_path, where="X")
        assert store.strategy_configuration("X").parameters["entry"]["quantity"] == 1


def test_enable_disable_export_remove_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    folder = tmp_path / "files"
    folder.mkdir()
    for name in ("P", "Q"):
        (folder / f"{name}.json").write_text(json.dumps(doc(name)))
    assert cli("import", str(folder), "--store", url).exit_code == 0
    assert cli("disable", "Q", "--store", url).exit_code == 0
    missing = cli("enable", "NOPE", "--store", url)
    assert missing.exit_code == 2 and "no strategy 'NOPE'" in missing.output
    exported = json.loads(cli("export", "Q", "--store", url).output)
    assert exported["enabled"] is False and exported["entry"] == DOC["entry"]
    out = tmp_path / "back"
    assert cli("export", "--out", str(out), "--store", url).exit_code == 0
    again = f"sqlite:///{tmp_path / 't.sqlite'}"  # an exported file imports as it was
    assert cli("import", str(out / "Q.json"), "--store", again).exit_code == 0
    assert json.loads(cli("list", "--store", again, "--json").output)[0]["active"] is False
    with Store(url) as store:  # seed 004's legacy row (use_composition false)
        store.upsert_strategy_configuration("OLD", "momentum", ["NIFTY:20261117:25000:CE"], {}, use_composition=False)
    assert cli("remove", "--legacy", "--mode", "deactivate", "--store", url).exit_code == 0
    assert cli("remove", "P", "--store", url).exit_code == 0
    rows = {r["id"]: r["active"] for r in json.loads(cli("list", "--store", url, "--json").output)}
    assert rows == {"OLD": False, "Q": False}


# --- a running session follows the table ---------------------------------------------------------


def wait_for(condition, what: str, timeout: float = 5.0) -> float:
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - t0


def run_hot_swap(store_url: str, tmp_path: Path, catalog: Path, *, poll_seconds: float | None) -> dict[str, Any]:
    with Store(store_url) as store:
        store.create_schema()
        write_document(store, doc("A"), tmp_path, where="A")
        # seed 004: an ML row whose model will not load is skipped at start, not fatal
        store.upsert_strategy_configuration("ML_BROKEN", "ml_momentum", ["NIFTY:20261117:25000:CE"],
                                            {"model_path": str(tmp_path / "missing.joblib")})  # fmt: skip
    session = open_paper_session([], catalog, DAY.isoformat(), store_url, broker_state=tmp_path / "b.json",
                                 strategies="db", on_change="drain")  # fmt: skip
    node, watcher = session.node, session.table.watcher
    if poll_seconds is not None:
        watcher.poll_seconds = poll_seconds
    runner = node.kernel.runner
    assert sorted(runner.strategies()) == ["A"]
    applied_in: set[str] = set()
    session.table.on_report = lambda _r: applied_in.add(threading.current_thread().name)
    done = threading.Event()

    def pace(_node: Any) -> None:
        if not done.is_set():
            time.sleep(0.015)

    replay = threading.Thread(target=lambda: node.run(_snapshots(session), after_input=pace), name="replay")
    replay.start()
    try:
        def holds(name: str) -> bool:
            with node.kernel.lock:
                return any(p.strategy == name for p in node.kernel.portfolio.positions())

        wait_for(lambda: holds("A"), "A enters")
        writer = Store(store_url)
        lag = {}
        write_document(writer, doc("B", entry_time="14:30"), tmp_path, where="B")
        lag["added"] = wait_for(lambda: "B" in runner.strategies(), "B added")
        write_document(writer, doc("B", entry_time="14:30", target_ce_delta=0.2), tmp_path, where="B")
        lag["replaced"] = wait_for(lambda: runner.configs()["B"].entry.target_ce_delta == 0.2, "B replaced")
        # edited behind our back into something invalid (no validation on this path): B stays
        bad = doc("B", entry_time="14:30", target_ce_delta=0.2, quantity=0)
        writer.upsert_strategy_configuration("B", "dnss", ["NIFTY"], bad)
        set_active(writer, ["A"], False)
        lag["draining"] = wait_for(lambda: "A" in runner.get_status()["draining"], "A draining")
        with node.kernel.lock:
            drain_ts = node.clock.now()
        writer.close()
        done.set()
        replay.join(timeout=30)
    finally:
        done.set()
        replay.join(timeout=30)
        session.close()
    reports = session.table.reports
    return {"runner": runner, "node": node, "lag": lag, "reports": reports, "applied_in": applied_in,
            "drain_ts": drain_ts, "watcher": watcher}  # fmt: skip


def _snapshots(session: Any) -> Any:
    from optrunner.backtest.engine import merged_snapshots

    return merged_snapshots(session.catalog, session.symbols, session.day, session.day)


def check_hot_swap(r: dict[str, Any], bound: float) -> None:
    runner, node = r["runner"], r["node"]
    assert max(r["lag"].values()) < bound, r["lag"]
    assert r["applied_in"] == {"replay"}  # swapped by the session's own thread, between inputs
    assert sorted(runner.strategies()) == ["B"]  # A drained, flat at its 15:00 exit, removed
    assert runner.configs()["B"].entry.quantity == 1  # the invalid edit was not applied
    changes = {k: [n for rep in r["reports"] for n in getattr(rep, k)] for k in ("added", "replaced", "removed", "waiting")}
    assert changes == {"added": ["B"], "replaced": ["B"], "removed": ["A"], "waiting": ["A"]}
    orders_a = [o for o in node.kernel.om.orders() if o.strategy == "A"]
    late = [o for o in orders_a if o.created_ts is not None and o.created_ts > r["drain_ts"]]
    entries = [o for o in late if not o.tag.is_exit]
    assert any(o.tag.is_exit and o.state.value == "FILLED" for o in late)  # its exits ran (15:00 at the latest)
    # draining: every entry it still asked for was refused, and it heard so (an order record)
    assert all(o.state.value == "REJECTED" and "STRATEGY_DRAINING" in (o.reason or "") for o in entries)
    assert not [p for p in node.kernel.portfolio.positions() if p.strategy == "A"]


def test_sqlite_session_picks_up_table_changes_by_polling(tmp_path, catalog):
    r = run_hot_swap(f"sqlite:///{tmp_path / 'paper.sqlite'}", tmp_path, catalog, poll_seconds=0.5)
    assert r["watcher"].notifications == 0 and r["watcher"].reads >= 3
    check_hot_swap(r, bound=3.0)


@pytest.mark.services
def test_postgres_session_picks_up_table_changes_by_notify(tmp_path, catalog, postgres_url):
    schema = f"optrunner_sdb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = f"{postgres_url}?options=-csearch_path%3D{schema}&application_name={schema}"
        r = run_hot_swap(url, tmp_path, catalog, poll_seconds=None)
        # no polling on PostgreSQL: every change came with a notification (reads = notified batches)
        assert r["watcher"].notifications >= 4 and r["watcher"].reads <= r["watcher"].notifications
        check_hot_swap(r, bound=2.0)
    finally:
        with admin.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                         {"n": schema})  # fmt: skip
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_run_with_strategies_db_trades_the_table_and_explains_an_empty_one(tmp_path, catalog):
    url = f"sqlite:///{tmp_path / 'paper.sqlite'}"
    base = ["run", "--strategies", "db", "--data", str(catalog), "--date", DAY.isoformat(), "--store", url]
    runner = CliRunner()
    empty = runner.invoke(app, base)
    assert empty.exit_code == 2 and "optrunner strategies import" in empty.output
    both = runner.invoke(app, [*base, str(tmp_path / "a.json")])
    assert both.exit_code == 2 and "give no strategy files" in both.output
    (tmp_path / "a.json").write_text(json.dumps(doc("A")))
    assert cli("import", str(tmp_path / "a.json"), "--store", url).exit_code == 0
    ok = runner.invoke(app, base)
    assert ok.exit_code == 0, ok.output
    with Store(url) as store:
        orders = store.load_orders()
        settings = [e.payload for e in store.journal() if e.kind == "settings"]
    assert orders and {o.strategy for o in orders} == {"A"}
    assert settings[-1]["strategies"] == "db" and settings[-1]["strategy_files"] == ["strategy_configurations:A"]
