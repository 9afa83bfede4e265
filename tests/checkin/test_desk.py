"""The reporting desk's view in checkin: a case found by its reference (either form)
answers its reference, status and next window, and nothing else; an in-person
check-in answers the window after it. On a fixed clock: the first window opens
Monday 7 December 2026, 09:00-19:00 London (GMT), grace to Tuesday 19:00."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from tests.checkin.helpers import (
    CASEWORKER,
    FIRST_OPENS,
    OFFICER,
    SUPERVISOR,
    apply,
    auth,
    case_change,
    rows,
)

VISIT = {"reporting_centre": "Croydon", "identity_confirmed_by": "document"}
WEEK = timedelta(days=7)


def window(opens: str, closes: str, grace_ends: str, zone: str = "Europe/London") -> dict:
    return {"opens_at": opens, "closes_at": closes, "grace_ends_at": grace_ends,
            "timezone": zone}


FIRST = window("2026-12-07T09:00:00Z", "2026-12-07T19:00:00Z", "2026-12-08T19:00:00Z")
SECOND = window("2026-12-14T09:00:00Z", "2026-12-14T19:00:00Z", "2026-12-15T19:00:00Z")


@pytest.fixture
async def case(checkin_app, clock) -> dict:
    """An active case planned before its first window, as the registry's feed sends it."""
    change = case_change()
    await apply(checkin_app, change)
    return change.data


async def desk(checkin, reference: str, headers=OFFICER):
    return await checkin.get("/v1/desk/cases", params={"reference": reference}, headers=headers)


def instants(body: dict) -> dict:
    """The next window with its instants parsed, so ``Z`` and ``+00:00`` compare alike."""
    nxt = body["next_window"]
    return nxt and {k: datetime.fromisoformat(v.replace("Z", "+00:00")) if k != "timezone"
                    else v for k, v in nxt.items()}


def same(body: dict, expected: dict | None) -> bool:
    return instants(body) == instants({"next_window": expected})


@pytest.mark.parametrize("form", [
    lambda c: c["reference"], lambda c: c["reference"].lower(),
    lambda c: c["reference"].replace("-", " "), lambda c: c["reference"].replace("-", ""),
    lambda c: c["keypad_reference"],
])
async def test_an_officer_finds_a_case_by_either_form_of_its_reference(checkin, case, form):
    response = await desk(checkin, form(case))
    assert response.status_code == 200, response.text
    body = response.json()
    # Nothing but what the desk needs: no id, phone, history or other windows.
    assert set(body) == {"reference", "status", "next_window"}
    assert (body["reference"], body["status"]) == (case["reference"], "active")
    assert set(body["next_window"]) == {"opens_at", "closes_at", "grace_ends_at", "timezone"}
    assert same(body, FIRST)


async def test_a_window_open_now_comes_before_the_next_one(checkin, case, clock):
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    assert same((await desk(checkin, case["reference"])).json(), FIRST)


async def test_a_window_in_its_grace_is_still_the_next_one(checkin, case, clock):
    # Tuesday 10:00: the window closed, but a check-in now still counts (late).
    clock.move_to(FIRST_OPENS + timedelta(hours=25))
    assert same((await desk(checkin, case["reference"])).json(), FIRST)


async def test_once_the_grace_ends_the_next_window_is_the_following_one(checkin, case, clock):
    clock.move_to(FIRST_OPENS + timedelta(hours=34, seconds=1))
    assert same((await desk(checkin, case["reference"])).json(), SECOND)


async def test_an_attended_window_gives_way_to_the_next(checkin, case, clock):
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    recorded = await checkin.post("/v1/checkins", headers=OFFICER,
                                  json={"reference": case["reference"], **VISIT})
    assert recorded.status_code == 201, recorded.text
    assert same((await desk(checkin, case["keypad_reference"])).json(), SECOND)


async def test_the_time_zone_is_the_persons(checkin_app, checkin, clock):
    change = case_change(timezone="America/New_York")
    await apply(checkin_app, change)
    body = (await desk(checkin, change.data["reference"])).json()
    # 09:00 in New York in December is 14:00 UTC; the desk shows it in the zone given.
    assert same(body, window("2026-12-07T14:00:00Z", "2026-12-08T00:00:00Z",
                             "2026-12-09T00:00:00Z", "America/New_York"))


@pytest.mark.parametrize("status", ["suspended", "resolved", "closed"])
async def test_a_case_that_is_not_active_has_no_next_window(checkin_app, checkin, case, status):
    await apply(checkin_app, case_change(case_id=uuid.UUID(case["id"]), version=2, status=status))
    body = (await desk(checkin, case["reference"])).json()
    assert (body["status"], body["next_window"]) == (status, None)


async def test_a_case_with_nothing_planned_has_no_next_window(checkin_app, checkin, clock):
    from checkin.models import ExpectedCheckin

    change = case_change()
    await apply(checkin_app, change)
    async with checkin_app.state.sessionmaker() as session, session.begin():
        for row in await rows(checkin_app, ExpectedCheckin):
            await session.delete(await session.get(ExpectedCheckin, row.id))
    body = (await desk(checkin, change.data["reference"])).json()
    assert (body["status"], body["next_window"]) == ("active", None)


async def test_an_unknown_reference_is_404(checkin, case):
    for reference in ("ZZZZ-ZZZ", "0000000000"):
        response = await desk(checkin, reference)
        assert response.status_code == 404, reference
        assert "next_window" not in response.text


@pytest.mark.parametrize("reference", [
    "", "ABC", "K7MR-4XP-9", "12345", "12345678901", "K7MR_4X!", "١٢٣٤٥٦٧٨٩٠", "A" * 17])
async def test_a_malformed_reference_is_422_naming_it(checkin, case, reference):
    response = await desk(checkin, reference)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["reference"]


async def test_without_a_reference_is_422_naming_it(checkin, case):
    response = await checkin.get("/v1/desk/cases", headers=OFFICER)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["reference"]


@pytest.mark.parametrize(("headers", "status"), [
    (OFFICER, 200), (SUPERVISOR, 200),
    # The registry's desk roles exactly: even the case's own caseworker reads its
    # windows through their caseload's route, not the desk's.
    (CASEWORKER, 403), (auth("authority"), 403), (auth("service"), 403), ({}, 401)])
async def test_who_may_use_the_desk(checkin, case, headers, status):
    response = await desk(checkin, case["reference"], headers=headers)
    assert response.status_code == status
    if status != 200:
        assert case["reference"] not in response.text and "next_window" not in response.text


# --- the in-person check-in's answer ---------------------------------------------------


async def test_a_check_in_in_the_open_window_answers_the_next_one(checkin, case, clock):
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    response = await checkin.post("/v1/checkins", headers=OFFICER,
                                  json={"reference": case["keypad_reference"], **VISIT})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["timing"], body["case_id"]) == ("on_time", case["id"])  # as before
    assert same(body, SECOND)


async def test_a_late_check_in_answers_the_next_one(checkin, case, clock):
    clock.move_to(FIRST_OPENS + timedelta(hours=25))
    body = (await checkin.post("/v1/checkins", headers=OFFICER,
                               json={"case_id": case["id"], **VISIT})).json()
    assert body["timing"] == "late" and same(body, SECOND)


async def test_a_check_in_outside_any_window_answers_the_coming_one(checkin, case):
    # Tuesday 1 December: before the first window opens.
    body = (await checkin.post("/v1/checkins", headers=OFFICER,
                               json={"case_id": case["id"], **VISIT})).json()
    assert body["timing"] == "unscheduled" and same(body, FIRST)


async def test_with_a_daily_schedule_a_window_still_open_comes_first(checkin_app, checkin,
                                                                    clock):
    # Daily windows with a day's grace overlap: Tuesday 10:00, Monday's is in its grace
    # and Tuesday's open. Checking in settles Monday's; Tuesday's is still to attend.
    change = case_change(rrule="FREQ=DAILY")
    await apply(checkin_app, change)
    clock.move_to(FIRST_OPENS + timedelta(hours=25))
    body = (await checkin.post("/v1/checkins", headers=OFFICER,
                               json={"case_id": change.data["id"], **VISIT})).json()
    assert body["timing"] == "late"
    assert same(body, window("2026-12-08T09:00:00Z", "2026-12-08T19:00:00Z",
                             "2026-12-09T19:00:00Z"))


async def test_a_double_submit_and_a_replay_answer_the_same_next_window(checkin, case, clock):
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    headers = {**OFFICER, "Idempotency-Key": "desk-1"}
    first = await checkin.post("/v1/checkins", headers=headers,
                               json={"case_id": case["id"], **VISIT})
    clock.shift(timedelta(seconds=20))
    double = await checkin.post("/v1/checkins", headers=OFFICER,
                                json={"case_id": case["id"], **VISIT})
    replay = await checkin.post("/v1/checkins", headers=headers,
                                json={"case_id": case["id"], **VISIT})
    assert (first.status_code, double.status_code, replay.status_code) == (201, 200, 201)
    assert same(first.json(), SECOND) and same(double.json(), SECOND)
    assert replay.json() == first.json()


async def test_the_last_planned_window_attended_answers_none(checkin_app, checkin, clock):
    # A schedule of one window: once attended, nothing is planned after it.
    change = case_change(rrule="FREQ=WEEKLY;COUNT=1")
    await apply(checkin_app, change)
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    body = (await checkin.post("/v1/checkins", headers=OFFICER,
                               json={"case_id": change.data["id"], **VISIT})).json()
    assert body["timing"] == "on_time" and body["next_window"] is None



async def test_a_look_up_is_in_the_case_s_audit_trail(checkin, case):
    await desk(checkin, case["keypad_reference"], headers=OFFICER | {"X-Request-ID": "desk-1"})
    await desk(checkin, "ZZZZ-ZZZ")  # found nothing: names no case
    response = await checkin.get("/v1/audit", headers=SUPERVISOR,
                                 params={"actor": "olu", "from": "2026-11-01T00:00:00Z"})
    assert [(e["action"], e["case_id"], e["role"], e["request_id"])
            for e in response.json()["items"]] == [
        ("desk.looked_up", case["id"], "officer", "desk-1")]
