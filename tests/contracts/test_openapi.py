"""Each service against its own OpenAPI document, fuzzed by Schemathesis in process
(over ASGI) as each role, valid and invalid input alike, with a fixed seed: no answer
is ever a 5xx, and every error is problem details."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import auth

ROLES = ("caseworker", "officer", "supervisor", "authority", "service")
EXAMPLES = 6  # per operation, role and mode: with every operation, under 60 s in all
SEED = 20261201


def fuzz(schema, role: str, case_id: str) -> tuple[int, list[str]]:
    """Every operation, as ``role``; returns (requests made, the 5xx seen). Every other
    example names ``case_id``, a case that exists, where the path has one."""
    headers = dict(auth(role, sub=f"fuzz-{role}"))
    seen: list[str] = []
    made = 0
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                made += _examples(result.ok(), mode, headers, seen, case_id)
            except Unsatisfiable:  # no invalid input exists (an operation without inputs)
                assert mode is GenerationMode.NEGATIVE
    return made, seen


def _examples(operation, mode: GenerationMode, headers: dict[str, str], seen: list[str],
              case_id: str) -> int:
    made = 0

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        nonlocal made
        if made % 2 == 0 and "case_id" in (case.path_parameters or {}):
            case.path_parameters["case_id"] = case_id
        response = case.call(headers={**(case.headers or {}), **headers})
        made += 1
        if response.status_code >= 500:
            seen.append(f"{case.method} {case.formatted_path} {mode.value}: "
                        f"{response.status_code} {response.text[:200]}")
        elif response.status_code >= 400:
            # Schemathesis keeps each header as a list of its values.
            assert response.headers["content-type"] == ["application/problem+json"], (
                case.method, case.formatted_path, response.status_code)

    run()
    return made


@pytest.mark.parametrize("service", ["registry", "checkin", "notifications"])
def test_no_input_and_no_role_gets_a_server_error(schemas, service, capsys):
    started = time.perf_counter()
    totals = {}
    failures: list[str] = []
    for role in ROLES:
        made, found = fuzz(schemas[service], role, schemas["case_id"])
        totals[role] = made
        failures += found
    with capsys.disabled():
        print(f"\nschemathesis {service}: {sum(totals.values())} requests "
              f"({', '.join(f'{r} {n}' for r, n in totals.items())}), {len(failures)} 5xx, "
              f"{time.perf_counter() - started:.1f} s")
    assert not failures, "\n".join(failures[:20])
