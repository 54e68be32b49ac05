"""Shared fixtures. Service fixtures skip loudly when the service is down, unless
OPTRUNNER_REQUIRE_SERVICES=1 (set by .ci/run), where they fail instead."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest

REQUIRE_SERVICES = "OPTRUNNER_REQUIRE_SERVICES"
POSTGRES_USERS = ("postgres", "root")  # trust auth on 127.0.0.1; which role exists varies


def service_unavailable(service: str, reason: str) -> NoReturn:
    message = f"{service} is unavailable: {reason}"
    if os.environ.get(REQUIRE_SERVICES) == "1":
        pytest.fail(f"{message} (and {REQUIRE_SERVICES}=1)", pytrace=False)
    pytest.skip(f"SKIPPED, SERVICE DOWN — {message}. Start it (see .ci/run) to run this test.")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """``postgresql+psycopg://{user}@127.0.0.1:5432/test`` for the first role that connects."""
    import psycopg

    errors = []
    for user in POSTGRES_USERS:
        try:
            with psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user=user, connect_timeout=3):
                return f"postgresql+psycopg://{user}@127.0.0.1:5432/test"
        except psycopg.Error as exc:
            errors.append(f"{user}: {str(exc).strip()}")
    service_unavailable("PostgreSQL at 127.0.0.1:5432 (database test)", "; ".join(errors))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """``redis://127.0.0.1:6379/0`` once the server answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(16)
    except OSError as exc:
        service_unavailable("Redis at 127.0.0.1:6379", str(exc))
    if not reply.startswith(b"+PONG"):
        service_unavailable("Redis at 127.0.0.1:6379", f"PING answered {reply!r}")
    return "redis://127.0.0.1:6379/0"
