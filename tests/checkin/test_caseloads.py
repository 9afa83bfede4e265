"""A caseworker's caseload in checkin: a delegation opens a case to its delegate up to
and including its last day (UTC), and the copy follows the registry's events."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.checkin.helpers import CASEWORKER, apply, case_change
from tests.conftest import auth

BOB = auth("caseworker", sub="bob")


async def test_a_delegation_opens_the_case_until_its_last_day(checkin_app, checkin, clock):
    change = case_change(caseworker="bob")
    change.data["delegations"] = [{"to": "alice", "until": "2026-12-03"}]
    await apply(checkin_app, change)
    url = f"/v1/cases/{change.data['id']}/checkins"
    assert (await checkin.get(url, headers=CASEWORKER)).status_code == 200
    assert (await checkin.get(url, headers=BOB)).status_code == 200
    clock.move_to("2026-12-03T23:59:00Z")
    assert (await checkin.get(url, headers=CASEWORKER)).status_code == 200
    clock.shift(timedelta(minutes=2))  # the 4th, UTC: the delegation has run out
    gone = await checkin.get(url, headers=CASEWORKER)
    unknown = await checkin.get(f"/v1/cases/{uuid.uuid4()}/checkins", headers=CASEWORKER)
    assert (gone.status_code, gone.json()["detail"]) == (404, unknown.json()["detail"])
    assert (await checkin.get(url, headers=BOB)).status_code == 200


async def test_a_revoked_delegation_closes_the_case(checkin_app, checkin, clock):
    change = case_change(caseworker="bob")
    change.data["delegations"] = [{"to": "alice", "until": "2027-01-31"}]
    await apply(checkin_app, change)
    url = f"/v1/cases/{change.data['id']}/pin"
    assert (await checkin.post(url, headers=CASEWORKER)).status_code == 201
    # The registry's next event carries no delegation (the key absent, as before issue 11).
    revoked = case_change(case_id=uuid.UUID(change.data["id"]), caseworker="bob", version=2)
    await apply(checkin_app, revoked)
    assert (await checkin.post(url, headers=CASEWORKER)).status_code == 404


async def test_a_caseworker_records_an_in_person_check_in_only_within_their_caseload(
        checkin_app, checkin, clock):
    from tests.checkin.helpers import FIRST_OPENS, OFFICER, checkins

    change = case_change()  # alice's
    await apply(checkin_app, change)
    case_id = uuid.UUID(change.data["id"])
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    visit = {"case_id": str(case_id), "reporting_centre": "Croydon",
             "identity_confirmed_by": "document"}
    refused = await checkin.post("/v1/checkins", json=visit, headers=BOB)
    unknown = await checkin.post("/v1/checkins", headers=BOB,
                                 json=visit | {"case_id": str(uuid.uuid4())})
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["detail"] == unknown.json()["detail"]
    assert "next_window" not in refused.text
    assert await checkins(checkin_app, case_id) == []
    assert (await checkin.post("/v1/checkins", json=visit, headers=CASEWORKER)).status_code == 201
    assert (await checkin.post("/v1/checkins", json=visit, headers=OFFICER)).status_code == 200
