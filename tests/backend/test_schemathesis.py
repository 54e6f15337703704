"""Schema-driven fuzzing of the whole OpenAPI surface: generated requests, valid and invalid
against the schema, must never produce a 5xx. Runs with an operator token so requests get
past authentication (and once without, for the auth layer). Bounded: a few examples per
operation and generation mode, derandomized so CI runs are reproducible."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.backend.conftest import Env

EXAMPLES = 6

# COSE bodies are opaque bytes to the schema: fuzz them like application/octet-stream.
schemathesis.serializer.alias("application/cose", "application/octet-stream")


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> int:
    calls = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)

    try:
        run()
    except Unsatisfiable:
        # No invalid request exists for an operation without parameters or body.
        assert mode is GenerationMode.NEGATIVE
    return calls


def test_openapi_fuzz_finds_no_server_errors(env: Env) -> None:
    env.publish_policy()
    schema = schemathesis.openapi.from_asgi("/openapi.json", env.app)
    results = list(schema.get_all_operations())
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) == len(results), "the OpenAPI schema has invalid operations"
    assert len(operations) >= 25
    calls = 0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            calls += _fuzz(operation, mode, env.op)
        calls += _fuzz(operation, GenerationMode.POSITIVE, {})
    assert calls > 3 * len(operations)
