"""`make serve` = `optrunner serve --demo`, run as a newcomer does from a fresh clone: the
bundled demo month is generated (shared with `make demo`), the example strangle trades the
demo day, the dashboard's address and the token's file are printed, and a second start
replays the day from its beginning again (a fresh demo store)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_service_e2e import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _serve(clone: Path, port: int, token_file: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPTRUNNER_API_TOKEN", "OPTRUNNER_STORE")}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.Popen([sys.executable, "-m", "optrunner.cli", "serve", "--demo", "--port", str(port),
                             "--pace-ms", "5", "--token-file", str(token_file)], cwd=clone,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_until(lambda: http.get("/api/health").status_code == 200, 120, "the demo service to answer")
            auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
            assert http.get("/", headers={}).status_code == 200  # the dashboard page
            status = http.get("/integrated/trading/status", headers=auth).json()
            assert status["strategies"] == ["NIFTY_DNSS"] and status["session_day"] in (None, "2026-10-05")
            wait_until(lambda: http.get("/integrated/trading/positions", headers=auth).json()["open_legs"],
                       60, "the strangle's legs")  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    return proc, out


def test_serve_demo_from_a_fresh_clone(tmp_path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "examples", clone / "examples")
    token_file = tmp_path / "token"
    port = free_port()
    _, out = _serve(clone, port, token_file)
    assert "Generating synthetic NIFTY minute chains" in out
    assert f"Dashboard: http://127.0.0.1:{port}/" in out and f"cat {token_file}" in out
    assert token_file.read_text().strip() not in out
    assert (clone / "data" / "demo" / "catalog.json").is_file() and (clone / "runs" / "serve-demo").is_dir()
    _, again = _serve(clone, free_port(), token_file)  # reused data, a fresh session (not resumed)
    assert "Reusing the synthetic NIFTY month" in again and "resuming" not in again


def test_demo_refuses_other_sources(tmp_path) -> None:
    r = subprocess.run([sys.executable, "-m", "optrunner.cli", "serve", "--demo", "--feed", "ws://127.0.0.1:1"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    assert r.returncode == 2 and "--demo picks its own" in r.stderr + r.stdout
