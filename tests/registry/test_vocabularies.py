"""Every member of every vocabulary the registry keeps can be stored and listed: for
each, a case holding it is created through the API, and the endpoints that list it
answer 200 with it. The database refuses a value outside the vocabulary."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from registry.enums import CaseStatus, Channel, Outcome, Sex, Vulnerability
from registry.service import TRANSITIONS
from sqlalchemy.exc import IntegrityError

from tests.conftest import auth
from tests.registry.factories import case_in

CASEWORKER = auth("caseworker", sub="alice")


async def listed(registry, case: dict, **params) -> dict:
    """The case as ``GET /v1/cases`` lists it (found by its reference)."""
    response = await registry.get("/v1/cases", params={"reference": case["reference"]} | params,
                                  headers=CASEWORKER)
    assert response.status_code == 200, response.text
    assert [c["id"] for c in response.json()["items"]] == [case["id"]]
    return response.json()["items"][0]


async def history(registry, case: dict) -> list[dict]:
    response = await registry.get(f"/v1/cases/{case['id']}/history", headers=CASEWORKER)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("status", CaseStatus)
async def test_cases_in_every_status_are_listed_with_their_history(registry, status):
    case = await case_in(registry, status)
    assert (await listed(registry, case, status=status.value))["status"] == status
    assert (await history(registry, case))[-1]["to_status"] == status
    read = await registry.get(f"/v1/cases/{case['id']}", headers=CASEWORKER)
    assert read.status_code == 200
    assert read.json()["status"] == status


# Closed is final: it is never left, and is listed above as the status reached.
@pytest.mark.parametrize("status", [s for s in CaseStatus if TRANSITIONS[s]])
async def test_history_lists_every_status_as_the_one_left(registry, status):
    case = await case_in(registry, status)
    leave_to = CaseStatus.closed
    response = await registry.post(f"/v1/cases/{case['id']}/transitions",
                                   json={"to": leave_to, "reason": "moving on"},
                                   headers=CASEWORKER)
    assert response.status_code == 200, response.text
    last = (await history(registry, case))[-1]
    assert (last["from_status"], last["to_status"]) == (status, leave_to)


@pytest.mark.parametrize("outcome", Outcome)
@pytest.mark.parametrize("status", [CaseStatus.resolved, CaseStatus.closed])
async def test_every_outcome_is_listed(registry, outcome, status):
    case = await case_in(registry, CaseStatus.resolved, outcome=outcome)
    if status == CaseStatus.closed:
        await registry.post(f"/v1/cases/{case['id']}/transitions",
                            json={"to": status, "reason": "file closed"}, headers=CASEWORKER)
    assert (await listed(registry, case, status=status.value))["outcome"] == outcome
    resolution = [h for h in await history(registry, case) if h["outcome"]]
    assert [h["outcome"] for h in resolution] == [outcome]


@pytest.mark.parametrize("sex", Sex)
async def test_every_sex_is_listed(registry, sex):
    case = await case_in(registry, CaseStatus.active, person__sex=sex.value)
    assert (await listed(registry, case))["person"]["sex"] == sex


@pytest.mark.parametrize("channel", Channel)
async def test_every_channel_is_listed(registry, channel):
    case = await case_in(registry, CaseStatus.active, reporting__channels=[channel.value])
    assert (await listed(registry, case))["reporting"]["channels"] == [channel]


async def test_every_vulnerability_is_listed(registry):
    flags = [v.value for v in Vulnerability]
    case = await case_in(registry, CaseStatus.active, vulnerabilities=flags)
    assert (await listed(registry, case))["vulnerabilities"] == flags


@pytest.mark.parametrize(("table", "column"), [
    ("cases", "status"), ("cases", "outcome"), ("people", "sex"),
    ("case_status_changes", "to_status"), ("case_status_changes", "from_status"),
    ("case_status_changes", "outcome"),
])
async def test_the_database_refuses_a_value_outside_the_vocabulary(
    registry, registry_app, table, column
):
    await case_in(registry, CaseStatus.resolved)
    async with registry_app.state.sessionmaker() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.execute(sa.text(f"UPDATE {table} SET {column} = 'archived'"))
