"""Request bodies for tests: a valid case, with any part overridden; a case brought
into any status."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from registry.enums import CaseStatus, Outcome

from tests.conftest import auth

CASE: dict[str, Any] = {
    "person": {
        "given_name": "Amina", "family_name": "K", "date_of_birth": "1990-04-02",
        "sex": "female", "nationality": "SD", "preferred_language": "ar",
        "phone": "+447911123456",
    },
    "programme": "community_case_management",
    "vulnerabilities": ["survivor_of_trafficking"],
    "reporting": {
        "channels": ["sms", "voice", "in_person"], "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "window_opens": "09:00", "window_hours": 10, "grace_hours": 24,
        "timezone": "Europe/London", "starts_on": "2026-12-07",
    },
}


def review_due() -> str:
    """Ninety days after today by the clock the test runs under (frozen in the registry
    tests, the real one end to end), so a new case's review is always in the future."""
    return (date.today() + timedelta(days=90)).isoformat()


def case_body(**overrides: Any) -> dict[str, Any]:
    """A valid case; ``person__phone="..."`` style keys override nested fields."""
    body = copy.deepcopy(CASE) | {"review_due": review_due()}
    for key, value in overrides.items():
        target = body
        *path, leaf = key.split("__")
        for part in path:
            target = target[part]
        if value is _DELETE:
            target.pop(leaf)
        else:
            target[leaf] = value
    return body


_DELETE = object()
DELETE = _DELETE


# How to bring a new (active) case into each status.
PATH_TO: dict[CaseStatus, list[tuple[CaseStatus, Outcome | None]]] = {
    CaseStatus.active: [],
    CaseStatus.suspended: [(CaseStatus.suspended, None)],
    CaseStatus.resolved: [(CaseStatus.resolved, Outcome.regularised)],
    CaseStatus.closed: [(CaseStatus.closed, None)],
}


async def case_in(registry, status: CaseStatus, *, outcome: Outcome | None = None,
                  headers=None, **overrides: Any) -> dict[str, Any]:
    """A new case (``case_body(**overrides)``) moved into ``status``; ``outcome`` replaces
    the one a resolution on the way uses."""
    headers = headers or auth("caseworker", sub="alice")
    response = await registry.post("/v1/cases", json=case_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    case = response.json()
    for to, default_outcome in PATH_TO[status]:
        body: dict[str, Any] = {"to": to, "reason": "getting there"}
        if default_outcome is not None:
            body["outcome"] = outcome or default_outcome
        response = await registry.post(f"/v1/cases/{case['id']}/transitions", json=body,
                                       headers=headers)
        assert response.status_code == 200, response.text
        case = response.json()
    return case
