"""In-person check-ins by a reporting officer: found by id or reference, identity
confirmed by document or by knowing the person, and never a biometric."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from checkin.enums import IdentityCheck
from checkin.models import CaseCopy, Checkin

from tests.checkin.helpers import (
    FIRST_OPENS,
    OFFICER,
    add_case,
    apply,
    auth,
    case_change,
    checkins,
    events,
    rows,
)

VISIT = {"reporting_centre": "Croydon", "identity_confirmed_by": "document"}


@pytest.fixture
async def case_id(checkin_app, clock):
    case_id = await add_case(checkin_app)
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    return case_id


async def copy_of(app, case_id) -> CaseCopy:
    [copy] = await rows(app, CaseCopy, CaseCopy.case_id == case_id)
    return copy


async def test_an_officer_records_a_check_in_by_case_id(checkin_app, checkin, case_id):
    response = await checkin.post("/v1/checkins", json={"case_id": str(case_id), **VISIT},
                                  headers=OFFICER)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["channel"], body["timing"], body["reporting_centre"]) == (
        "in_person", "on_time", "Croydon")
    assert body["received_at"].startswith("2026-12-07T11:00:00")  # the server's clock
    [recorded] = await checkins(checkin_app, case_id)
    assert recorded.recorded_by == "olu" and recorded.identity_confirmed_by == IdentityCheck.document
    assert [e.data["id"] for e in await events(checkin_app, "checkin.recorded")] == [body["id"]]


@pytest.mark.parametrize("form", [
    lambda ref: ref, lambda ref: ref.lower(), lambda ref: ref.replace("-", " "),
    lambda ref: ref.replace("-", ""),
])
async def test_an_officer_finds_the_case_by_its_reference(checkin_app, checkin, case_id, form):
    copy = await copy_of(checkin_app, case_id)
    response = await checkin.post("/v1/checkins", headers=OFFICER, json={
        "reference": form(copy.reference), "reporting_centre": "Croydon",
        "identity_confirmed_by": "known_to_officer"})
    assert response.status_code == 201, response.text
    assert response.json()["case_id"] == str(case_id)


async def test_the_keypad_form_of_the_reference_works_too(checkin_app, checkin, case_id):
    copy = await copy_of(checkin_app, case_id)
    response = await checkin.post("/v1/checkins", headers=OFFICER,
                                  json={"reference": copy.keypad_reference, **VISIT})
    assert response.status_code == 201


async def test_an_unknown_case_is_404_and_records_nothing(checkin_app, checkin, case_id):
    for body in ({"case_id": str(uuid.uuid4()), **VISIT}, {"reference": "ZZZZ-ZZZ", **VISIT}):
        assert (await checkin.post("/v1/checkins", json=body, headers=OFFICER)).status_code == 404
    assert await rows(checkin_app, Checkin) == []


@pytest.mark.parametrize("status", ["suspended", "resolved", "closed"])
async def test_a_case_that_is_not_active_is_409_and_records_nothing(checkin_app, checkin, case_id,
                                                                   status):
    await apply(checkin_app, case_change(case_id=case_id, version=2, status=status))
    response = await checkin.post("/v1/checkins", json={"case_id": str(case_id), **VISIT},
                                  headers=OFFICER)
    assert response.status_code == 409
    assert status in response.json()["detail"]
    assert await checkins(checkin_app, case_id) == []


@pytest.mark.parametrize(("change", "field"), [
    ({"photo": "data:image/jpeg;base64,AAAA"}, "photo"),
    ({"fingerprint": "AAAA"}, "fingerprint"),
    ({"latitude": 51.37}, "latitude"),
    ({"identity_confirmed_by": "face_match"}, "identity_confirmed_by"),
    ({"reporting_centre": ""}, "reporting_centre"),
    ({"reporting_centre": "x" * 121}, "reporting_centre"),
    ({"received_at": "2026-12-07T09:00:00Z"}, "received_at"),
])
async def test_biometrics_and_bad_fields_are_refused(checkin_app, checkin, case_id, change, field):
    response = await checkin.post("/v1/checkins", headers=OFFICER,
                                  json={"case_id": str(case_id), **VISIT, **change})
    assert response.status_code == 422
    assert field in str(response.json()["errors"])
    assert await checkins(checkin_app, case_id) == []


@pytest.mark.parametrize("body", [VISIT, {"case_id": "x", "reference": "ABCD-EFG", **VISIT}])
async def test_exactly_one_way_to_name_the_case(checkin, case_id, body):
    assert (await checkin.post("/v1/checkins", json=body, headers=OFFICER)).status_code == 422


@pytest.mark.parametrize(("roles", "status"), [
    (("authority",), 403), (("service",), 403), (("caseworker",), 201)])
async def test_who_may_record_in_person(checkin, case_id, roles, status):
    response = await checkin.post("/v1/checkins", json={"case_id": str(case_id), **VISIT},
                                  headers=auth(*roles))
    assert response.status_code == status


async def test_a_double_submit_records_one_check_in(checkin_app, checkin, case_id, clock):
    body = {"case_id": str(case_id), **VISIT}
    first = await checkin.post("/v1/checkins", json=body, headers=OFFICER)
    clock.shift(timedelta(seconds=20))
    again = await checkin.post("/v1/checkins", json=body, headers=OFFICER)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(await checkins(checkin_app, case_id)) == 1


async def test_an_idempotency_key_replays_the_first_answer(checkin_app, checkin, case_id, clock):
    headers = {**OFFICER, "Idempotency-Key": "visit-1"}
    body = {"case_id": str(case_id), **VISIT}
    first = await checkin.post("/v1/checkins", json=body, headers=headers)
    clock.shift(timedelta(hours=1))
    again = await checkin.post("/v1/checkins", json=body, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert len(await checkins(checkin_app, case_id)) == 1


async def test_a_body_over_64_kib_is_413_and_records_nothing(checkin_app, checkin, case_id):
    body = {"case_id": str(case_id), **VISIT, "reporting_centre": "C" * (65 * 1024)}
    response = await checkin.post("/v1/checkins", json=body, headers=OFFICER)
    assert response.status_code == 413
    sms_body = {"MessageSid": "SM1", "From": "+447911123456", "Body": "1" * (65 * 1024)}
    assert (await checkin.post("/v1/twilio/sms", data=sms_body)).status_code == 413
    assert await checkins(checkin_app, case_id) == []
