"""What a test does when a local service (PostgreSQL, Redis, promtool, chromium) is missing:
skip loudly on a developer's machine, fail under OPTRUNNER_REQUIRE_SERVICES=1 (.ci/run).
A module of its own, not conftest: several conftest.py files exist, and `from conftest import`
picks whichever was imported first."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_SERVICES = "OPTRUNNER_REQUIRE_SERVICES"


def service_unavailable(service: str, reason: str) -> NoReturn:
    message = f"{service} is unavailable: {reason}"
    if os.environ.get(REQUIRE_SERVICES) == "1":
        pytest.fail(f"{message} (and {REQUIRE_SERVICES}=1)", pytrace=False)
    pytest.skip(f"SKIPPED, SERVICE DOWN — {message}. Start it (see .ci/run) to run this test.")
