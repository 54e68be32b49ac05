"""Crash recovery end to end: `optrunner run` killed with SIGKILL mid-session, then resumed.

A synthetic NIFTY day and a DNSS that trades a lot: 30 lots, so every order is two freeze
slices; limit orders at the last price, so many rest, trade on a later snapshot or are
repriced after 30 s; adjustments on a 0.1 delta drift — some 70 orders. The reference runs the whole day uninterrupted. Each crash
run is the same session killed at some point — by the test, once the store holds N orders,
or by the process itself at an exact place (OPTRUNNER_TEST_CRASH, see live/paper_broker.py):
between our journal flush and the broker seeing a submission, between the broker executing
an order and our reading of it. Then `--recover` finishes the day, and everything must
equal the reference: orders, fills, positions, P&L and charges, strategy state — with no
client id accepted twice by the paper broker and no fill recorded twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from optrunner.data.synthetic import generate
from optrunner.live.paper_book import load_book
from optrunner.live.paper_broker import CRASH_ENV
from optrunner.live.recovery import RECOVERED, latest_checkpoint
from optrunner.store import Store

pytestmark = pytest.mark.slow

DAY = date(2026, 11, 16)
CONFIG = {
    "name": "CRASHY", "enabled": True, "strategy": "dnss",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": "catalog"},
    "entry": {"entry_time": "09:30", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "delta_tolerance": 0.05,
              "quantity": 30, "max_attempts": 3},
    "adjustment": {"enabled": True, "delta_drift_trigger": 0.1, "cooldown_seconds": 60, "max_adjustments_per_day": 20,
                   "max_leg_delta": 0.65},
    "exit": {"exit_time": "15:15", "time_exit_override": True},
    "execution": {"order_type": "LIMIT", "price_limit_percent": 1.0, "timeout_seconds": 30, "on_timeout": "reprice"},
}  # fmt: skip


def optrunner_run(root: Path, name: str, *extra: str, crash: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash:
        env[CRASH_ENV] = crash
    cmd = [sys.executable, "-m", "optrunner.cli", "run", str(root / "crashy.json"), "--data", str(root / "catalog"),
           "--date", DAY.isoformat(), "--store", f"sqlite:///{root / name}.sqlite",
           "--broker-state", str(root / f"{name}.json"), "--capital", "50000000", *extra]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def finish(p: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out


def order_count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def end_state(root: Path, name: str) -> dict[str, Any]:
    store = Store(f"sqlite:///{root / name}.sqlite")
    try:
        checkpoint = latest_checkpoint(store).payload
        recoveries = [e.payload for e in store.journal() if e.kind == RECOVERED]
        state = {
            "orders": store.load_orders(),  # dataclasses: == compares every field
            "fills": store.load_fills(),
            "closed": checkpoint["closed"],
            "portfolio": checkpoint["kernel"]["portfolio"],
            "strategies": checkpoint["kernel"]["strategies"],
            "risk": (checkpoint["kernel"]["account"], checkpoint["kernel"]["kill_switch"]),
            "bookkeeping": {
                k: checkpoint["kernel"][k] for k in ("day", "day_start_net", "opened", "last_exit")
            },
        }
    finally:
        store.close()
    broker = load_book(root / f"{name}.json")
    return state | {
        "executions": broker["executions"],
        "accepted": broker["accepted"],
        "recoveries": recoveries,
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("crash")
    generate("NIFTY", DAY, DAY, seed=11, out=root / "catalog", strikes_each_side=15, progress=False)
    (root / "crashy.json").write_text(json.dumps(CONFIG))
    code, out = finish(optrunner_run(root, "reference"))
    assert code == 0, out
    ref = end_state(root, "reference")
    assert len(ref["orders"]) >= 40 and ref["closed"] == [DAY.isoformat()], (
        "the scenario should trade all day"
    )
    assert {o.state.value for o in ref["orders"]} == {"FILLED"}
    created = {o.client_id: o.created_ts for o in ref["orders"]}
    assert any(f.ts > created[f.client_id] for f in ref["fills"]), (
        "no order rested and traded on a later snapshot"
    )
    return root, ref


# (where, (how, fraction)): kill once the store holds that fraction of the reference's orders, or
# self-kill (OPTRUNNER_TEST_CRASH) at that fraction of the reference's submissions; "snapshot"
# dies at the first snapshot that executed resting orders.
KILLS = [
    ("after the first orders", ("orders", 0.05)),
    ("mid-day", ("orders", 0.5)),
    ("late in the day", ("orders", 0.85)),
    ("between the journal flush and the broker", ("submit", 0.25)),
    ("after the broker executed a submission, before we read it", ("accepted", 0.6)),
    (
        "after the broker executed resting orders on a snapshot, before we read it",
        ("snapshot", 0.0),
    ),
]


@pytest.mark.parametrize(("where", "how"), KILLS, ids=[k[0] for k in KILLS])
def test_killed_session_resumes_to_exactly_the_uninterrupted_result(reference, where, how):
    root, ref = reference
    kind, fraction = how
    n = max(4 if kind == "orders" else 1, round(fraction * len(ref["orders"])))
    name = f"crash-{kind}-{n}"
    if kind == "orders":
        p = optrunner_run(root, name, "--pace-ms", "20")
        deadline = time.monotonic() + 120
        while order_count(root / f"{name}.sqlite") < n and p.poll() is None:
            assert time.monotonic() < deadline, "the session never placed enough orders"
            time.sleep(0.005)
        os.kill(p.pid, signal.SIGKILL)
    else:
        p = optrunner_run(root, name, crash=f"{kind}:{n}")
    code, out = finish(p)
    assert code == -signal.SIGKILL, f"the session was not killed ({where}): {out[-2000:]}"
    crashed = end_state(root, name) if (root / f"{name}.json").exists() else None
    assert crashed is None or crashed["closed"] == [], "killed after the day was over"

    code, out = finish(optrunner_run(root, name, "--recover"))
    assert code == 0, out
    assert "Resuming after" in out
    got = end_state(root, name)

    assert (
        got["orders"] == ref["orders"]
    )  # every field: ids, contracts, sides, quantities, states, fills, prices
    assert got["fills"] == ref["fills"]  # ids, prices, quantities, charges
    assert got["portfolio"] == ref["portfolio"]  # positions, realized P&L, charges, marks
    assert got["strategies"] == ref["strategies"]
    assert got["risk"] == ref["risk"] and got["bookkeeping"] == ref["bookkeeping"]
    assert got["executions"] == ref["executions"]  # the paper broker traded exactly the same
    assert set(got["accepted"].values()) == {1}, "a client id was accepted twice"
    assert len({f.fill_id for f in got["fills"]}) == len(got["fills"]) == len(ref["executions"])
    (recovery,) = got["recoveries"]
    if kind in ("submit", "accepted"):  # an order was in flight: it must have been resolved
        assert recovery["possibly_sent"], recovery
