"""Shared driver of ``optrunner serve --feed <broker>`` tests: the session runs as a subprocess
against a fake broker whose WebSocket pushes quotes from a background thread; the driver
waits until the node has taken a few inputs, lets the test look at the fake while the session
runs, stops it with SIGTERM and returns its output (for the no-secret-printed checks)."""

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
    """``push()`` every ``every`` seconds in a daemon thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            push()

    threading.Thread(target=loop, daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def serve_on_feed(feed: str, configs: Path, tmp: Path, broker_env: dict[str, str],
                  while_running: Callable[[dict[str, Any]], None], *, min_inputs: int = 3,
                  extra_args: tuple[str, ...] = ()) -> str:  # fmt: skip
    """Run ``serve --feed feed`` until the node has had ``min_inputs`` snapshots, call
    ``while_running(health)``, stop it (SIGTERM, exit 0 required) and return its output."""
    port = free_port()
    env = os.environ | broker_env | {
        "OPTRUNNER_TOKEN_DIR": str(tmp / "tokens"), "XDG_CONFIG_HOME": str(tmp / "xdg"),
        "OPTRUNNER_SECRETS_FILE": str(tmp / "none.json"), "OPTRUNNER_API_TOKEN": f"{feed}-feed-api-token-1",
        "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "optrunner.cli", "serve", "--feed", feed, "--config-dir", str(configs),
         "--store", f"sqlite:///{tmp / 'p.sqlite'}", "--port", str(port), *extra_args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            end = time.monotonic() + 60
            health = None
            while time.monotonic() < end:
                try:
                    health = http.get("/api/health").json()
                    if health["feed"]["inputs"] >= min_inputs:
                        break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.2)
            assert health is not None and health["feed"]["inputs"] >= min_inputs, health
            while_running(health)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        return out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
