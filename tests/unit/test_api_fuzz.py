"""Schemathesis fuzzes the service's OpenAPI spec against the app (ASGI, no network): every
operation with generated valid and invalid input, with the token. No answer may be a 5xx,
and every answer must be one the spec documents (status, content type, body schema).

Bounded for CI: a few examples per operation, on a session a few inputs in (positions
open), so reads and actions meet a live book; state-changing calls (stop, reload,
disable) land on the same session, as an operator's mistakes would."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service_cases import TOKEN, DrivenService, make_case

AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 15  # per operation and mode: ~25 operations x 2 modes, well under a minute
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("fuzz")
    catalog, configs = make_case(root)
    d = DrivenService(catalog, configs, root)
    with TestClient(d.app):  # the lifespan runs: the hub publishes as in a real service
        d.until_open()
        yield schemathesis.openapi.from_asgi("/openapi.json", d.app)
    d.service.stop()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_a_5xx_or_off_spec(api, mode) -> None:
    operations = [r.ok() for r in api.get_all_operations()]
    assert len(operations) >= 20  # the seeds' paths and ours
    fuzzed: list[str] = []
    for op in operations:

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)  # fmt: skip
        def call(case) -> None:
            case.call_and_validate(headers=AUTH, checks=CHECKS)

        try:
            call()
        except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
            assert mode is GenerationMode.NEGATIVE, op.label
            continue
        fuzzed.append(op.label)
    if mode is GenerationMode.NEGATIVE:  # every operation taking input got invalid input
        assert {"POST /integrated/trading/start", "POST /integrated/trading/exit-position",
                "GET /api/orders", "GET /spot/statistics"} <= set(fuzzed), fuzzed  # fmt: skip
    else:
        assert len(fuzzed) == len(operations)
