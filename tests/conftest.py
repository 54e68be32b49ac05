"""Shared fixtures. Service fixtures skip loudly when the service is down, unless
OPTRUNNER_REQUIRE_SERVICES=1 (set by .ci/run), where they fail instead."""

from __future__ import annotations

import socket

import pytest

from required_services import REQUIRE_SERVICES, service_unavailable  # noqa: F401  (fixtures below; re-exported)

POSTGRES_USERS = ("postgres", "root")  # trust auth on 127.0.0.1; which role exists varies


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
