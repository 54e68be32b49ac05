"""`optrunner serve --feed <broker>` as a subprocess, for the broker-feed end-to-end tests: start
it on a free port with the fake broker's environment, wait until the running node has taken
``inputs`` snapshots, let the test look at the fake while it runs, stop it with SIGTERM and
return what it printed (so a test can check no secret was). ``wait_finished`` waits for a
``serve --data`` replay of a day to finish."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def market(push: Callable[[], None], every: float = 0.1) -> Iterator[None]:
    """``push()`` every ``every`` seconds in a daemon thread while the block runs (a fake's quotes)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            push()

    threading.Thread(target=loop, daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def serve_on_feed(tmp: Path, feed: str, configs: Path, broker_env: dict[str, str], *extra: str, inputs: int = 3,
                  expect: tuple[str, str] = ("paper", "paper"), timeout: float = 60.0,
                  while_running: Callable[[dict[str, Any]], None] | None = None,
                  port: int | None = None) -> str:  # fmt: skip
    """Run ``serve --feed feed *extra`` (on ``port``, a free one by default) until its node has
    had ``inputs`` snapshots; assert the session's (mode, broker) is ``expect``, call
    ``while_running(health)``, stop it (exit 0 asserted) and return its output."""
    port = port or free_port()
    env = os.environ | broker_env | {
        "OPTRUNNER_TOKEN_DIR": str(tmp / "tokens"), "XDG_CONFIG_HOME": str(tmp / "xdg"),
        "OPTRUNNER_SECRETS_FILE": str(tmp / "none.json"), "OPTRUNNER_API_TOKEN": f"{feed}-feed-api-token-1",
        "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrunner.cli", "serve", "--feed", feed, "--config-dir", str(configs),
         "--store", f"sqlite:///{tmp / 'p.sqlite'}", "--port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            end = time.monotonic() + timeout
            health = None
            while time.monotonic() < end:
                try:
                    health = http.get("/api/health").json()
                    if health["feed"]["inputs"] >= inputs:
                        break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.2)
            assert health is not None and health["feed"]["inputs"] >= inputs, health
            assert (health["mode"], health["broker"]) == expect, health
        if while_running is not None:
            while_running(health)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        return out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def wait_finished(proc: subprocess.Popen[str], port: int, seconds: float = 90) -> dict[str, Any]:
    """Poll ``/api/health`` until the replay finished (or failed); returns the last health."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        end = time.monotonic() + seconds
        health: dict[str, Any] = {}
        while time.monotonic() < end:
            try:
                health = http.get("/api/health").json()
                if health["feed"]["state"] in ("finished", "failed"):
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
    return health
