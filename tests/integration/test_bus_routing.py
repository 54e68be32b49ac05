"""One broker per strategy through the real Redis: one strategies service runs two strategies,
SVC on paper (the default) and SVK on Kite — named in its file (``execution.broker: kite``) or,
from the ``strategy_configurations`` table (``--strategies db``), by its row's
``zerodha_trading_enabled`` (seed 004); each one's signals go to its own broker's topics,
through that broker's risk service and gateway (paper and Kite at once), and every order
reaches the right broker: SVK's at the fake Kite (the real SDK), SVC's at the paper gateway,
none at the other."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kite_cases import settings_env
from test_kite_serve import day_contracts

from fakes.kite_server import FakeKite, instrument_csv
from optrunner.bus import messages as m
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.execution.brokers.live.adapter import tag_for
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.symbology import format_symbol
from optrunner.store import Store
from service_cases import DAY, STRATEGY, make_case

pytestmark = [pytest.mark.slow, pytest.mark.services]
ROOT = Path(__file__).resolve().parents[2]
ACCESS = "fake-access-token-000000000888"
KITE_STRATEGY = "SVK"


def import_rows(store: str, configs: Path) -> None:
    """SVC as a plain row, SVK as a row with zerodha_trading_enabled (its file names no broker)."""
    from optrunner.live.commands import open_store, store_url
    from optrunner.strategy_db.rows import write_document

    st = open_store(store, store_url(store), recover=False)
    try:
        for name, zerodha in ((STRATEGY, False), (KITE_STRATEGY, True)):
            doc = json.loads((configs / f"{name}.json").read_text())
            write_document(st, doc, configs, where=name, zerodha_trading_enabled=zerodha)
    finally:
        st.close()


@pytest.mark.parametrize("source", ["files", "db"])
def test_two_strategies_one_on_paper_one_on_kite_each_order_reaches_its_broker(tmp_path: Path, redis_url: str,
                                                                               source: str) -> None:  # fmt: skip
    catalog, configs = make_case(tmp_path)
    doc = json.loads((configs / f"{STRATEGY}.json").read_text())
    kite_doc = {**doc, "name": KITE_STRATEGY} | ({"execution": {"broker": "kite"}} if source == "files" else {})
    (configs / f"{KITE_STRATEGY}.json").write_text(json.dumps(kite_doc))
    fake = FakeKite(instrument_csv(day_contracts(catalog))).start()
    fake.fill_at_limit = True
    fake.issue_token(ACCESS)
    TokenStore(tmp_path / "tokens").save(SessionToken("kite", Secret(ACCESS), datetime.now(UTC) + timedelta(hours=20)))
    ns = f"t-route-{uuid.uuid4().hex[:6]}"
    env = os.environ | settings_env(fake, tmp_path) | {"OPTRUNNER_TOKEN_DIR": str(tmp_path / "tokens"),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    common = ["--redis", redis_url, "--namespace", ns]
    files = [str(configs / f"{STRATEGY}.json"), str(configs / f"{KITE_STRATEGY}.json")]
    store = f"sqlite:///{tmp_path / 's.sqlite'}"

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "optrunner.bus", *args, *common], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip

    procs = {
        "gateway-paper": start("gateway", "--broker-state", str(tmp_path / "paper.json")),
        "gateway-kite": start("gateway", "--broker", "kite", "--broker-state", str(tmp_path / "kite-tags.txt")),
        "risk-paper": start("risk", *files, "--capital", "50000000"),
        "risk-kite": start("risk", *files, "--capital", "50000000", "--broker", "kite"),
    }
    buses = {b: StreamBus(connect(redis_url), Topics(b, ns)) for b in ("paper", "kite")}
    try:
        feed = start("feed", "--data", str(catalog), "--date", DAY.isoformat(), "--symbol", "NIFTY")
        out = feed.communicate(timeout=120)[0]
        assert feed.returncode == 0, out
        if source == "db":
            import_rows(store, configs)
        chosen = files if source == "files" else ["--strategies", "db"]
        strat = start("strategies", *chosen, "--data", str(catalog), "--date", DAY.isoformat(), "--store", store,
                      "--capital", "50000000")  # fmt: skip
        out = strat.communicate(timeout=300)[0]
        assert strat.returncode == 0 and "processed" in out, out[-3000:]
        assert "SVC -> paper, SVK -> kite" in out
        for name, p in procs.items():
            p.send_signal(signal.SIGTERM)
            pout = p.communicate(timeout=30)[0]
            assert p.returncode == 0, f"{name}:\n{pout[-3000:]}"
            assert ACCESS not in pout
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()
        fake.stop()
    s = Store(store)
    orders = s.load_orders()
    s.close()
    by = {name: [o for o in orders if o.strategy == name] for name in (STRATEGY, KITE_STRATEGY)}
    assert len(by[STRATEGY]) >= 4 and len(by[KITE_STRATEGY]) >= 4  # both entered, adjusted and exited
    # the same strategy on the same market enters with the same legs, each on its own broker (later
    # orders differ: the fake Kite fills a limit at once, the paper exchange may leave it resting)
    assert [(o.contract, o.side, o.quantity) for o in by[STRATEGY][:2]] == [(o.contract, o.side, o.quantity)
                                                                            for o in by[KITE_STRATEGY][:2]]  # fmt: skip
    raw = {b: [c for _, c in bus.read_all("signals.raw") if isinstance(c, m.Submit)] for b, bus in buses.items()}
    assert {c.order.strategy for c in raw["paper"]} == {STRATEGY}
    assert {c.order.strategy for c in raw["kite"]} == {KITE_STRATEGY}
    submitted = {b: sorted(x.order.client_id for _, x in bus.read_all("orders.submitted")) for b, bus in buses.items()}
    assert submitted["paper"] == sorted(o.client_id for o in by[STRATEGY])
    assert submitted["kite"] == sorted(o.client_id for o in by[KITE_STRATEGY]), (
        [(o.client_id, o.state, o.reason) for o in by[KITE_STRATEGY]],
        [type(c).__name__ for _, c in buses["kite"].read_all("signals.rejected")][:5],
        [(c.order.client_id) for c in raw["kite"]])
    at_kite = {o.form["tag"]: o for o in fake.orders.values()}
    assert len(at_kite) == len(fake.orders) == len(by[KITE_STRATEGY])  # one broker order each, none twice
    assert set(at_kite) == {tag_for(o.client_id) for o in by[KITE_STRATEGY]}
    for o in by[KITE_STRATEGY]:
        form = at_kite[tag_for(o.client_id)].form
        assert (form["tradingsymbol"], form["transaction_type"], int(form["quantity"])) == (
            format_symbol(o.contract, "kite"), str(o.side), o.quantity)
    assert all(str(o.state) == "FILLED" for o in by[KITE_STRATEGY]), [(o.client_id, o.state) for o in by[KITE_STRATEGY]]
    assert {fake.net_position(o.form["tradingsymbol"]) for o in fake.orders.values()} == {0}  # flat at Kite
    pnl = {b: {x.strategy for _, x in bus.read_all("pnl.snapshots")} for b, bus in buses.items()}
    assert pnl == {"paper": {STRATEGY}, "kite": {KITE_STRATEGY}}
    for bus in buses.values():
        assert bus.read_all("risk.dlq") == [] and bus.read_all("gateway.dlq") == []
        bus.reset()
