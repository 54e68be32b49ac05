"""Every user mistake issue 12 saw ends in one ``error:`` line and a documented exit code.

Exit codes (core/errors.py, README): 0 ok, 1 run failed, 2 bad input, 130 interrupted.
Each case drives the real command line (typer's CliRunner, or a subprocess where worker
processes or start-up are involved) and checks what a user sees: the code, the message,
no traceback — and, for interrupted writes, what is left on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optrunner.cli import app
from optrunner.data.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "configs"
DAY = "2026-11-16"


def cli(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_line(result) -> str:
    """The output with wrapping undone (rich wraps at the console width)."""
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A one-day NIFTY catalog and a copy of the example strategy (as the README has users do)."""
    root = tmp_path_factory.mktemp("errors")
    generate("NIFTY", date(2026, 11, 16), date(2026, 11, 16), seed=5, out=root / "catalog",
             strikes_each_side=8, progress=False)  # fmt: skip
    shutil.copy(EXAMPLES / "NIFTY_DNSS.json", root / "my.json")
    return root


# --- missing or unusable inputs ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["backtest", "run"])
def test_missing_or_empty_data_is_bad_input(work, tmp_path, command):
    extra = ["--date", DAY, "--store", f"sqlite:///{tmp_path / 's.sqlite'}"] if command == "run" else ["--out", tmp_path / "o"]
    (tmp_path / "empty").mkdir()
    for data in (tmp_path / "nowhere", tmp_path / "empty"):
        r = cli(command, work / "my.json", "--data", data, *extra)
        assert r.exit_code == 2
        assert f"error: {data}: no catalog here" in one_line(r) and "optrunner data synth" in r.output
    (tmp_path / "blank" / "chains").mkdir(parents=True)
    (tmp_path / "blank" / "catalog.json").write_text("{}")  # a catalog with nothing in it
    r = cli(command, work / "my.json", "--data", tmp_path / "blank", *extra)
    assert r.exit_code == 2 and "has no NIFTY chains for strategy NIFTY_DNSS" in one_line(r)
    assert "it holds no data at all" in one_line(r)


def test_sweep_with_missing_data_fails_once_not_per_worker(work, tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "optrunner.cli", "sweep", str(work / "my.json"), "--data", str(tmp_path / "nowhere"),
         "--grid", "entry.target_ce_delta=0.2,0.25,0.3", "--workers", "2", "--out", str(tmp_path / "sw")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert p.returncode == 2
    assert "Traceback" not in p.stderr + p.stdout and "BrokenProcessPool" not in p.stderr + p.stdout
    assert p.stderr.count("error:") == 1 and "no catalog here" in p.stderr


def test_catalog_without_a_strategys_symbol_names_it(work, tmp_path):
    r = cli("backtest", EXAMPLES, "--data", work / "catalog", "--out", tmp_path / "o")
    assert r.exit_code == 2
    text = one_line(r)
    assert "has no BANKNIFTY chains for strategy BANKNIFTY_DNSS" in text and "it holds NIFTY" in text
    assert "optrunner data synth --symbol BANKNIFTY" in text
    assert "skipped" in text and "NIFTY_DNSS_TEMPLATE.json: file name ends in TEMPLATE" in text


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--slippage", "-1t", "--slippage: '-1t': slippage is a whole number of ticks or a percentage, 0 or more"),
        ("--slippage", "two", "--slippage: 'two': write ticks like 2t or a percentage like 0.1%"),
        ("--latency", "-1", "--latency: must be greater than or equal to 0"),
        ("--capital", "0", "--capital: must be greater than 0"),
        ("--capital", "-5", "--capital: must be greater than 0"),
    ],
)
def test_bad_account_flags_are_refused_before_anything_runs(work, tmp_path, flag, value, message):
    out = tmp_path / "out"
    r = cli("backtest", work / "my.json", "--data", work / "catalog", "--out", out, flag, value)
    assert r.exit_code == 2 and f"error: {message}" in one_line(r)
    assert not out.exists()  # nothing half-written (--capital -5 used to write CSVs, then fail)
    r = cli("sweep", work / "my.json", "--data", work / "catalog", "--grid", "entry.target_ce_delta=0.2",
            "--out", out, flag, value)  # fmt: skip
    assert r.exit_code == 2 and f"error: {message}" in one_line(r)


def test_out_pointing_at_a_file_or_a_foreign_folder_is_refused(work, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = cli("backtest", work / "my.json", "--data", work / "catalog", "--out", tmp_path / "notes.txt")
    assert r.exit_code == 2 and "is a file; give a folder name" in one_line(r)
    (tmp_path / "home" / "photos").mkdir(parents=True)
    r = cli("backtest", work / "my.json", "--data", work / "catalog", "--out", tmp_path / "home")
    assert r.exit_code == 2 and "already holds files that are not an optrunner run" in one_line(r)
    assert (tmp_path / "home" / "photos").is_dir()


def test_store_url_that_is_a_file_name_shows_how_to_write_it(work, tmp_path):
    r = cli("run", work / "my.json", "--data", work / "catalog", "--date", DAY, "--store", "foo.sqlite")
    assert r.exit_code == 2 and "--store 'foo.sqlite' is not a store URL — write sqlite:///foo.sqlite" in one_line(r)


def test_unreachable_postgresql_is_a_failed_run_with_one_line(work, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://nobody@127.0.0.1:{port}/paper"
    r = cli("run", work / "my.json", "--data", work / "catalog", "--date", DAY, "--store", url,
            "--broker-state", tmp_path / "b.json")  # fmt: skip
    assert r.exit_code == 1
    assert f"cannot open the store postgresql+psycopg://nobody@127.0.0.1:{port}/paper" in one_line(r)
    assert "is the database server running" in one_line(r)


def test_recover_without_a_session_says_so(work, tmp_path):
    store = tmp_path / "paper.sqlite"
    r = cli("run", work / "my.json", "--data", work / "catalog", "--date", DAY, "--store", f"sqlite:///{store}", "--recover")
    assert r.exit_code == 2 and "no session to resume — run without --recover" in one_line(r)
    assert not store.exists()
    import sqlite3

    sqlite3.connect(store).close()  # a store file without a session in it
    r = cli("run", work / "my.json", "--data", work / "catalog", "--date", DAY, "--store", f"sqlite:///{store}", "--recover")
    assert r.exit_code == 2 and "holds no session (no checkpoint, no orders)" in one_line(r)


# --- exit codes agree -------------------------------------------------------------------------


def test_the_same_bad_file_exits_2_from_validate_backtest_and_sweep(work, tmp_path):
    doc = json.loads((work / "my.json").read_text())
    doc["entry"]["entry_time"] = "9:30"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    codes = {
        "validate": cli("validate", bad).exit_code,
        "backtest": cli("backtest", bad, "--data", work / "catalog", "--out", tmp_path / "o").exit_code,
        "sweep": cli("sweep", bad, "--data", work / "catalog", "--grid", "entry.quantity=1").exit_code,
    }
    assert codes == {"validate": 2, "backtest": 2, "sweep": 2}


def test_validate_json_gives_each_files_verdict(work, tmp_path):
    doc = json.loads((work / "my.json").read_text())
    doc["exit"]["exit_time"] = "16:00"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    r = cli("validate", work / "my.json", tmp_path / "bad.json", EXAMPLES / "NIFTY_DNSS_TEMPLATE.json", "--json")
    assert r.exit_code == 2
    files = {Path(f["path"]).name: f for f in json.loads(r.output)["files"]}
    assert files["my.json"] == {"path": str(work / "my.json"), "status": "valid", "runnable": True,
                                "not_run_because": None, "issues": [], "warnings": []}  # fmt: skip
    assert files["bad.json"]["status"] == "invalid" and files["bad.json"]["issues"][0]["path"] == "exit.exit_time"
    assert files["NIFTY_DNSS_TEMPLATE.json"]["runnable"] is False
    assert files["NIFTY_DNSS_TEMPLATE.json"]["not_run_because"] == "file name ends in TEMPLATE"
    assert cli("validate", work / "my.json", "--json").exit_code == 0


def test_validate_and_the_runners_agree_on_templates(work, tmp_path):
    template = EXAMPLES / "NIFTY_DNSS_TEMPLATE.json"
    v = cli("validate", template)
    assert v.exit_code == 0 and "(not run: file name ends in TEMPLATE" in one_line(v)
    r = cli("backtest", template, "--data", work / "catalog", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "not a strategy to run (file name ends in TEMPLATE)" in one_line(r)
    doc = json.loads((work / "my.json").read_text()) | {"enabled": False}
    (tmp_path / "off.json").write_text(json.dumps(doc))
    assert "(not run: enabled is false" in one_line(cli("validate", tmp_path / "off.json"))
    r = cli("sweep", tmp_path / "off.json", "--data", work / "catalog", "--grid", "entry.quantity=1")
    assert r.exit_code == 2 and "not a strategy to run (enabled is false)" in one_line(r)


def test_a_sweep_whose_every_run_failed_exits_1(work, tmp_path):
    r = cli("sweep", work / "my.json", "--data", work / "catalog", "--grid", "entry.delta_tolerance=0.5,0.6",
            "--workers", "1", "--out", tmp_path / "sw")  # fmt: skip
    assert r.exit_code == 1
    assert "every one of the 2 sweep runs failed" in one_line(r) and "run 1 failed" in one_line(r)
    assert (tmp_path / "sw" / "sweep.csv").is_file()  # the errors are kept for reading
    settings = json.loads((tmp_path / "sw" / "settings.json").read_text())
    assert settings["grid"] == {"entry.delta_tolerance": [0.5, 0.6]} and "code_version" in settings


# --- Ctrl-C -----------------------------------------------------------------------------------


def test_ctrl_c_while_the_program_starts_exits_130(monkeypatch, capsys):
    import optrunner.cli as entry

    class Interrupting:
        def find_spec(self, name, path=None, target=None):
            if name == "optrunner.cli_app":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "optrunner.cli_app", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    with pytest.raises(SystemExit) as exit_:
        entry.main(["demo"])
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "error: interrupted (Ctrl-C) while starting\n"


def test_ctrl_c_while_a_command_starts_exits_130(work, monkeypatch):
    import optrunner.backtest.commands as commands

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "load_configs", interrupted)
    r = cli("backtest", work / "my.json", "--data", work / "catalog")
    assert r.exit_code == 130 and "interrupted (Ctrl-C)" in r.output


def test_ctrl_c_of_a_paper_run_exits_130_and_says_how_to_resume(work, tmp_path, monkeypatch):
    from optrunner.live.node import TradingNode

    def interrupted(self, *_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(TradingNode, "run", interrupted)
    r = cli("run", work / "my.json", "--data", work / "catalog", "--date", DAY, "--store", f"sqlite:///{tmp_path / 'p.sqlite'}")
    assert r.exit_code == 130 and "resume with --recover" in one_line(r)


# --- atomic outputs ---------------------------------------------------------------------------


def test_interrupted_backtest_leaves_the_previous_run_whole(work, tmp_path, monkeypatch):
    out = tmp_path / "run"
    first = cli("backtest", work / "my.json", "--data", work / "catalog", "--out", out, "--no-report")
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "summary.json" in before and "report.html" not in before
    assert "backtest: 1/1 days" in first.output and "\x1b" not in first.output  # plain status lines in a pipe

    import optrunner.backtest.commands as commands

    def interrupted(_folder):
        raise KeyboardInterrupt  # Ctrl-C after the CSVs are written, while the report renders

    monkeypatch.setattr(commands, "render_report", interrupted)
    r = cli("backtest", work / "my.json", "--data", work / "catalog", "--out", out, "--slippage", "3t")
    assert r.exit_code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old run, not a mix
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left behind


def test_interrupted_synth_is_detected_until_finished(tmp_path, monkeypatch):
    from optrunner.data.catalog import Catalog

    real = Catalog.write_bars
    calls = []

    def interrupt_on_second_day(self, symbol, table):
        calls.append(symbol)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, symbol, table)

    data = tmp_path / "cat"
    args = ["data", "synth", "--symbol", "NIFTY", "--from", "2026-11-16", "--to", "2026-11-18", "--data", data,
            "--strikes-each-side", "3"]  # fmt: skip
    monkeypatch.setattr(Catalog, "write_bars", interrupt_on_second_day)
    r = cli(*args)
    assert r.exit_code == 130 and "marked incomplete" in one_line(r)
    monkeypatch.setattr(Catalog, "write_bars", real)

    info = cli("data", "info", "--data", data)
    assert info.exit_code == 1
    assert "INCOMPLETE" in info.output and "data synth --symbol NIFTY --from 2026-11-16 --to 2026-11-18" in one_line(info)
    assert "was interrupted — run that command again to finish it" in one_line(info)
    shutil.copy(EXAMPLES / "NIFTY_DNSS.json", tmp_path / "my.json")
    bt = cli("backtest", tmp_path / "my.json", "--data", data, "--out", tmp_path / "o")
    assert bt.exit_code == 2 and "is incomplete" in one_line(bt)

    assert cli(*args).exit_code == 0  # the same command again finishes it
    info = cli("data", "info", "--data", data)
    assert info.exit_code == 0 and "INCOMPLETE" not in info.output


def test_synth_over_a_range_without_trading_days_writes_nothing(tmp_path):
    data = tmp_path / "cat"
    r = cli("data", "synth", "--symbol", "NIFTY", "--from", "2026-11-14", "--to", "2026-11-15", "--data", data)
    assert r.exit_code == 2 and "no NSE trading days between 2026-11-14 and 2026-11-15; nothing written" in one_line(r)
    assert not data.exists()


# --- the command line itself ------------------------------------------------------------------


def test_bare_command_prints_help_and_exits_0():
    r = cli()
    assert r.exit_code == 0 and "Commands" in r.output and "Exit codes" in r.output
    assert cli("data").exit_code == 0


def test_version_and_short_help():
    from optrunner import __version__

    r = cli("--version")
    assert r.exit_code == 0 and r.output.startswith(f"optrunner {__version__}")
    for command in (["backtest"], ["sweep"], ["run"], ["validate"], ["chain"], ["find-option"], ["data", "synth"], ["demo"]):
        r = cli(*command, "-h")
        assert r.exit_code == 0 and "Examples" in r.output and "$ optrunner" in r.output, command
        assert "<bool>" not in r.output


def test_sweep_help_documents_every_option_including_latency():
    r = cli("sweep", "-h")
    for flag in ("--grid", "--workers", "--metric", "--from", "--to", "--account", "--capital", "--slippage", "--latency", "--risk-free"):
        line = next(line for line in r.output.splitlines() if f"{flag} " in line)
        assert len(line.split("│")[1].split()) > 2, f"{flag} has no help text: {line}"


def test_a_paper_run_reports_progress_in_plain_lines_when_piped(work, tmp_path):
    r = cli("run", work / "my.json", "--data", work / "catalog", "--date", DAY, "--store", f"sqlite:///{tmp_path / 'p.sqlite'}")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("account: defaults")
    assert any(line.startswith("paper: start") for line in lines)
    assert any(line.startswith("paper: 2026-11-16 15:30  snapshots 376") for line in lines)
    assert "\x1b" not in r.output and "\r" not in r.output
    from optrunner.live.commands import SETTINGS
    from optrunner.store import Store

    store = Store(f"sqlite:///{tmp_path / 'p.sqlite'}")
    [entry] = [e for e in store.journal() if e.kind == SETTINGS]  # the session's effective settings
    assert entry.payload["capital"] == 1_000_000 and entry.payload["date"] == DAY and "code_version" in entry.payload
    store.close()


@pytest.mark.slow
def test_ctrl_c_of_a_pool_sweep_exits_130_without_worker_tracebacks(work, tmp_path):
    import signal
    import time

    deltas = ",".join(f"0.{n:02d}" for n in range(15, 45))
    p = subprocess.Popen(
        [sys.executable, "-m", "optrunner.cli", "sweep", str(work / "my.json"), "--data", str(work / "catalog"),
         "--grid", f"entry.target_ce_delta={deltas}", "--grid", "adjustment.delta_drift_trigger=0.3,0.4,0.5,0.6",
         "--workers", "2", "--out", str(tmp_path / "sw")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(subprocess.run(["pgrep", "-g", str(p.pid)], capture_output=True, text=True).stdout.split()) < 3:
        assert time.monotonic() < deadline and p.poll() is None, "the pool never started"
        time.sleep(0.1)
    time.sleep(0.3)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, out + err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert err.count("error: interrupted (Ctrl-C)") == 1
    assert not (tmp_path / "sw").exists()


def test_an_unexpected_error_is_one_line_with_exit_1_and_debug_shows_it(work, monkeypatch):
    import optrunner.backtest.commands as commands

    def broken(*_a, **_k):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(commands, "run_backtest", broken)
    r = cli("backtest", work / "my.json", "--data", work / "catalog", "--out", work / "never")
    assert r.exit_code == 1
    assert "error: unexpected ZeroDivisionError: float division by zero — this is a bug in optrunner" in one_line(r)
    assert "OPTRUNNER_DEBUG=1" in r.output and not (work / "never").exists()
    debug = CliRunner().invoke(app, ["backtest", str(work / "my.json"), "--data", str(work / "catalog")],
                               env={"OPTRUNNER_DEBUG": "1"})  # fmt: skip
    assert isinstance(debug.exception, ZeroDivisionError)  # the traceback, for a bug report


def test_a_path_the_system_refuses_is_named(tmp_path):
    r = cli("schema", "--out", tmp_path / "no" / "such" / "dir" / "schema.json")
    assert r.exit_code == 2
    assert f"error: cannot use {tmp_path / 'no' / 'such' / 'dir' / 'schema.json'}: No such file or directory" in one_line(r)


def test_adopt_without_live_is_refused_before_anything_starts(tmp_path):
    (tmp_path / "configs").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("serve", "--config-dir", tmp_path / "configs", "--feed", "ws://127.0.0.1:9", "--adopt",
            "--store", f"sqlite:///{tmp_path / 's.sqlite'}", "--port", str(port),
            env={"OPTRUNNER_API_TOKEN": "t" * 32, "XDG_CONFIG_HOME": str(tmp_path / "xdg")})  # fmt: skip
    assert r.exit_code == 2 and "--adopt takes a live broker's positions into the book: use it with --live" in one_line(r)
    assert not (tmp_path / "s.sqlite").exists()
