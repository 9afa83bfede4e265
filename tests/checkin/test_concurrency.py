"""Check-ins that arrive together: a Twilio retry racing the original, an officer's
double click, two replicas running the missed-check-in job. Each lands once. These run
on the configured database with real commits; CI runs them on PostgreSQL, where the
requests truly overlap."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from checkin import jobs
from checkin.enums import FollowUpKind, Outcome, Timing

from tests.checkin.helpers import (
    FIRST_OPENS,
    OFFICER,
    add_case,
    checkins,
    events,
    expected,
    follow_ups,
    issue_pin,
    sms,
)


async def test_the_same_message_sent_twice_at_once_is_recorded_once(
        fresh_checkin_app, fresh_checkin, clock):
    case_id = await add_case(fresh_checkin_app, language="en")
    pin = await issue_pin(fresh_checkin, case_id)
    clock.move_to(FIRST_OPENS)
    sid = "SM" + "e" * 32
    answers = await asyncio.gather(*(sms(fresh_checkin, pin, sid=sid) for _ in range(6)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert "Thank you, your check-in is recorded" in answers[0].text
    assert len(await checkins(fresh_checkin_app, case_id)) == 1
    assert len(await events(fresh_checkin_app, "checkin.recorded")) == 1


async def test_two_messages_at_once_settle_the_window_once(fresh_checkin_app, fresh_checkin, clock):
    case_id = await add_case(fresh_checkin_app, language="en")
    pin = await issue_pin(fresh_checkin, case_id)
    clock.move_to(FIRST_OPENS)
    answers = await asyncio.gather(sms(fresh_checkin, pin), sms(fresh_checkin, pin))
    texts = " | ".join(a.text for a in answers)
    assert texts.count("your check-in is recorded") == 1
    assert texts.count("you have already checked in") == 1
    recorded = await checkins(fresh_checkin_app, case_id)
    assert sorted(c.timing for c in recorded) == [Timing.on_time, Timing.unscheduled]
    assert (await expected(fresh_checkin_app, case_id))[0].status == Outcome.on_time


async def test_an_officers_double_click_records_one_check_in(fresh_checkin_app, fresh_checkin,
                                                             clock):
    case_id = await add_case(fresh_checkin_app)
    clock.move_to(FIRST_OPENS)
    body = {"case_id": str(case_id), "reporting_centre": "Croydon",
            "identity_confirmed_by": "known_to_officer"}
    answers = await asyncio.gather(*(fresh_checkin.post("/v1/checkins", json=body, headers=OFFICER)
                                     for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(await checkins(fresh_checkin_app, case_id)) == 1


async def test_two_missed_check_in_jobs_at_once_open_one_follow_up_each(
        fresh_checkin_app, clock):
    ids = [await add_case(fresh_checkin_app) for _ in range(3)]
    clock.move_to(FIRST_OPENS + timedelta(days=1, hours=10, seconds=1))  # grace is over
    sessionmaker = fresh_checkin_app.state.sessionmaker
    settled = await asyncio.gather(jobs.decide_missed(sessionmaker),
                                   jobs.decide_missed(sessionmaker))
    assert sum(settled) == 3
    for case_id in ids:
        kinds = [f.kind for f in await follow_ups(fresh_checkin_app, case_id)]
        assert kinds == [FollowUpKind.missed_checkin]
    assert len(await events(fresh_checkin_app, "expected_checkin.outcome")) == 3


async def test_one_idempotency_key_for_two_cases_at_once_never_answers_the_others_check_in(
        fresh_checkin_app, fresh_checkin, clock):
    """However the two interleave, each answer is its own case's check-in, a 409 (the
    twin was still being processed) or a 422 (the key was already used for the other
    case); and only one of the two is recorded."""
    cases = [await add_case(fresh_checkin_app, phone=f"+44791112346{n}") for n in (1, 2)]
    clock.move_to(FIRST_OPENS)
    headers = {**OFFICER, "Idempotency-Key": "desk-7"}
    answers = await asyncio.gather(*(fresh_checkin.post("/v1/checkins", headers=headers, json={
        "case_id": str(case_id), "reporting_centre": "Croydon",
        "identity_confirmed_by": "document"}) for case_id in cases))
    assert sorted(a.status_code for a in answers) in ([201, 409], [201, 422])
    for case_id, answer in zip(cases, answers, strict=True):
        if answer.status_code == 201:
            assert answer.json()["case_id"] == str(case_id)
    recorded = [len(await checkins(fresh_checkin_app, case_id)) for case_id in cases]
    assert sorted(recorded) == [0, 1]
