"""schemathesis against the live OpenAPI document of a real `headwater serve` (SQLite):
thousands of generated requests, valid and invalid; none may get a 5xx, and every
response must be one the document declares (status, content type, headers, body)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from .api_server import serving

# Over 2,000 in all; each mode has its own test (and server), so xdist runs them side by
# side. Invalid requests are slower to generate, and many operations have few ways to be
# wrong, so that mode asks for more than it gets and gets fewer.
MIN_CASES = {GenerationMode.POSITIVE: 1200, GenerationMode.NEGATIVE: 800}
ASKED = {GenerationMode.POSITIVE: 1500, GenerationMode.NEGATIVE: 1900}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _fuzz(
    operation: APIOperation,
    mode: GenerationMode,
    url: str,
    session: requests.Session,
    failures: dict[str, str],
    examples: int,
) -> int:
    """Send generated requests for one operation; failures are collected (first of each
    kind) rather than raised, so one run reports them all without shrinking. How many
    requests were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        try:
            case.call_and_validate(base_url=url, session=session, checks=CHECKS, timeout=30)
        except (FailureGroup, Exception) as exc:  # noqa: BLE001 - collected and reported
            text = str(exc).strip()
            kind = [line for line in text.splitlines() if line.lstrip().startswith(("- ", "Rec"))]
            failures.setdefault(f"{operation.label} {kind}", text[:3000])

    try:
        check()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # no inputs, so none can be wrong
    return sent


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_never_get_a_5xx_and_match_the_schema(
    examples: Path, mode: GenerationMode
) -> None:
    database = f"sqlite:///{examples / '.headwater' / 'headwater.db'}"
    failures: dict[str, str] = {}
    cases = 0
    with serving(examples, database) as url, requests.Session() as session:
        schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        examples_each = math.ceil(ASKED[mode] / len(operations))
        for operation in operations:
            cases += _fuzz(operation, mode, url, session, failures, examples_each)
    report = "\n\n".join(f"== {key}\n{text}" for key, text in failures.items())
    assert not failures, f"{len(failures)} failures in {cases} cases:\n\n{report}"
    print(f"{cases} {mode.value} cases")
    assert cases >= MIN_CASES[mode], cases
