"""Input no client should send still gets a clear 4xx naming the field, never a 500:
instants before year 1 or without an offset, other scripts' digits where a reference
goes, characters no database stores, header values of any byte."""

from __future__ import annotations

import json
import uuid

import pytest
from checkin.models import Checkin, Outage

from tests.checkin.helpers import (
    CASEWORKER,
    FIRST_OPENS,
    OFFICER,
    SUPERVISOR,
    expected,
    follow_ups,
    rows,
    run_jobs,
)

EXTREME = ["0001-01-01T00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-12-07T09:00:00",
           "1800-01-01T00:00Z"]
VISIT = {"reporting_centre": "Croydon", "identity_confirmed_by": "document"}


def fields(response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"] for error in response.json()["errors"]}


async def post_json(client, path: str, text: str, headers: dict[str, str]):
    """A body sent as written: JSON escapes such as a lone surrogate included."""
    return await client.post(path, content=text.encode(),
                             headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("moment", EXTREME)
@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
async def test_an_outage_at_an_impossible_or_naive_instant_is_422(checkin_app, checkin, clock,
                                                                  field, moment):
    body = {"channel": "sms", "starts_at": "2026-12-07T00:00Z", "ends_at": "2026-12-08T00:00Z",
            "reason": "gateway down", field: moment}
    response = await checkin.post("/v1/outages", json=body, headers=SUPERVISOR)
    assert fields(response) == {field}
    assert await rows(checkin_app, Outage) == []


async def test_an_outage_in_another_offset_is_kept_in_utc(checkin, clock):
    response = await checkin.post("/v1/outages", headers=SUPERVISOR, json={
        "channel": "all", "starts_at": "2026-12-07T10:00+14:00",
        "ends_at": "2026-12-07T11:00-12:00", "reason": "gateway down"})
    assert response.status_code == 201, response.text
    assert response.json()["starts_at"].startswith("2026-12-06T20:00:00")
    assert response.json()["ends_at"].startswith("2026-12-07T23:00:00")


@pytest.mark.parametrize("moment", EXTREME)
@pytest.mark.parametrize("name", ["since", "until"])
async def test_a_case_record_asked_for_an_impossible_or_naive_instant_is_422(checkin, case, name,
                                                                             moment):
    case_id, _ = case
    response = await checkin.get(f"/v1/cases/{case_id}/checkins", params={name: moment},
                                 headers=CASEWORKER)
    assert fields(response) == {name}


async def test_a_case_record_since_an_instant_in_another_offset(checkin, case):
    case_id, _ = case
    # 10:00 at +01:00 is 09:00 UTC, when the first window opens: it is included.
    response = await checkin.get(f"/v1/cases/{case_id}/checkins", headers=CASEWORKER,
                                 params={"since": "2026-12-07T10:00+01:00",
                                         "until": "2026-12-14T10:00+01:00"})
    assert response.status_code == 200, response.text
    assert [e["opens_at"][:16] for e in response.json()["expected"]] == ["2026-12-07T09:00"]


@pytest.mark.parametrize("reference", [
    "١٢٣٤٥٦٧٨٩٠",  # Arabic-Indic digits
    "۱۲۳۴۵۶۷۸۹۰",  # Persian
    "²²²²²²²²²²",
    "１２３４５６７８９０",  # fullwidth
    "ÀBCD-EFG",
])
async def test_a_reference_of_other_scripts_is_422_and_records_nothing(checkin_app, checkin, case,
                                                                       reference):
    response = await checkin.post("/v1/checkins", json={"reference": reference, **VISIT},
                                  headers=OFFICER)
    assert fields(response) == {"reference"}
    assert await rows(checkin_app, Checkin) == []


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\u001b[31m"])
async def test_text_no_database_stores_is_422_naming_the_field(checkin_app, checkin, case, clock,
                                                               escape):
    case_id, _ = case
    response = await post_json(checkin, "/v1/checkins", json.dumps(
        {"case_id": str(case_id), "identity_confirmed_by": "document"})[:-1]
        + f', "reporting_centre": "Croy{escape}don"}}', OFFICER)
    assert fields(response) == {"reporting_centre"}

    first = (await expected(checkin_app, case_id))[0]
    response = await post_json(checkin, f"/v1/expected-checkins/{first.id}/excusal",
                               f'{{"reason": "ill{escape}"}}', CASEWORKER)
    assert fields(response) == {"reason"}

    clock.move_to(FIRST_OPENS.replace(day=9))
    await run_jobs(checkin_app)
    [follow_up] = await follow_ups(checkin_app, case_id)
    response = await post_json(checkin, f"/v1/follow-ups/{follow_up.id}/close",
                               f'{{"note": "called{escape}"}}', CASEWORKER)
    assert fields(response) == {"note"}
    assert await rows(checkin_app, Checkin) == []


async def test_a_note_may_run_over_several_lines(checkin_app, checkin, case, clock):
    case_id, _ = case
    clock.move_to(FIRST_OPENS.replace(day=9))
    await run_jobs(checkin_app)
    [follow_up] = await follow_ups(checkin_app, case_id)
    response = await checkin.post(f"/v1/follow-ups/{follow_up.id}/close", headers=CASEWORKER,
                                  json={"note": "Called her.\n\tThe bus was cancelled.\r\n"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("key", [b"caf\xe9", b"a b", b"\x7f", b"k" * 101])
async def test_an_idempotency_key_of_other_bytes_is_422(checkin_app, checkin, case, clock, key):
    case_id, _ = case
    response = await checkin.post("/v1/checkins", json={"case_id": str(case_id), **VISIT},
                                  headers={**OFFICER, "Idempotency-Key": key})
    assert fields(response) == {"idempotency-key"}
    assert await rows(checkin_app, Checkin) == []


async def test_an_unknown_uuid_shape_is_422_not_500(checkin):
    response = await checkin.post(f"/v1/cases/{'٣' * 32}/pin", headers=CASEWORKER)
    assert fields(response) == {"case_id"}
    response = await checkin.get("/v1/follow-ups", params={"case_id": str(uuid.uuid4())[:-1]},
                                 headers=CASEWORKER)
    assert fields(response) == {"case_id"}
