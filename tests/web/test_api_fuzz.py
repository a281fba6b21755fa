"""Schemathesis over the whole JSON API, as each role, against the real app and desk
database (SQLite, then PostgreSQL): no answer is a server error, and every answer keeps
the schema the app publishes at /openapi.json (its status codes are declared, its body
matches, its content type and headers are as declared, bad input is refused).

Bounded so it runs in CI on two cores: a fixed seed and a few examples per operation and
generation mode. The operations are walked here rather than with schemathesis's pytest
plugin, whose fixture-based schemas do not run under pytest 9.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from winback.desk.models import ROLES

EXAMPLES = 6  # per operation and generation mode
SEED = 20261126
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.negative_data_rejection,
    # Each operation declares the bearer token (components.securitySchemes): a success
    # with the token is replayed without it and with a wrong one, which must be refused.
    openapi_checks.ignored_auth,
]


def _exercise(operation: Any, mode: GenerationMode, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize("role", ROLES)
def test_api_keeps_its_schema_for_every_role(
    app: FastAPI, scanned: None, tokens: dict[str, str], role: str
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _exercise(operation, mode, tokens[role])
            except Unsatisfiable:
                pass  # nothing in the operation can be made invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # every failing operation
                failures.append(f"{operation.label} [{mode}]: {str(exc)[:1500]}")
    assert operations >= 40
    assert not failures, "\n\n".join(failures)
