"""Outcomes of expected check-ins: the exact edges of the window and of its grace period,
the job that decides a missed one (idempotent, with a follow-up for the caseworker),
excusals, suspension mid-schedule, and outages that excuse what the system caused.

The case is weekly on Mondays, 09:00-19:00 in London with 24 hours' grace, from Monday
7 December 2026 (GMT): opens 09:00Z, closes 19:00Z, grace ends Tuesday 8 December 19:00Z.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from checkin import feeds
from checkin.enums import FollowUpKind, FollowUpStatus, Outcome, Timing
from checkin.models import Outage

from shared.changefeed import Change
from tests.checkin.helpers import (
    BEFORE_START,
    CASEWORKER,
    FIRST_OPENS,
    OFFICER,
    SUPERVISOR,
    add_case,
    apply,
    auth,
    case_change,
    checkins,
    events,
    expected,
    follow_ups,
    rows,
    run_jobs,
)

CLOSES = FIRST_OPENS + timedelta(hours=10)  # Monday 7 December, 19:00Z
GRACE_ENDS = CLOSES + timedelta(hours=24)  # Tuesday 8 December, 19:00Z
SECOND = timedelta(seconds=1)
WEEK = timedelta(days=7)
AUTHORITY = auth("authority", sub="home-office")


@pytest.fixture
async def case_id(checkin_app, clock) -> uuid.UUID:
    return await add_case(checkin_app)


async def in_person(client, case_id: uuid.UUID):
    response = await client.post("/v1/checkins", headers=OFFICER, json={
        "case_id": str(case_id), "reporting_centre": "Croydon",
        "identity_confirmed_by": "document"})
    assert response.status_code == 201, response.text
    return response.json()


async def case_checkins(client, case_id: uuid.UUID) -> dict:
    response = await client.get(f"/v1/cases/{case_id}/checkins", headers=CASEWORKER)
    assert response.status_code == 200, response.text
    return response.json()


async def excusal(client, expected_id: uuid.UUID, reason: str = "Hospital appointment",
                  headers: dict[str, str] = CASEWORKER):
    return await client.post(f"/v1/expected-checkins/{expected_id}/excusal",
                             json={"reason": reason}, headers=headers)


async def declare(client, *, starts_at: datetime, ends_at: datetime, channel: str = "sms",
                  reason: str = "SMS gateway down", headers: dict[str, str] = SUPERVISOR):
    return await client.post("/v1/outages", headers=headers, json={
        "channel": channel, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
        "reason": reason})


def outcome_events(all_events, expected_id: uuid.UUID) -> list:
    return [e for e in all_events if e.subject_id == str(expected_id)]


# --- the edges of the window --------------------------------------------------------


@pytest.mark.parametrize(("moment", "timing", "status"), [
    (FIRST_OPENS - SECOND, Timing.unscheduled, Outcome.pending),
    (FIRST_OPENS, Timing.on_time, Outcome.on_time),
    (CLOSES, Timing.on_time, Outcome.on_time),
    (CLOSES + SECOND, Timing.late, Outcome.late),
    (GRACE_ENDS, Timing.late, Outcome.late),
    (GRACE_ENDS + SECOND, Timing.unscheduled, Outcome.pending),
], ids=["second-before-opening", "opening", "closing", "second-after-closing", "end-of-grace",
        "second-after-grace"])
async def test_the_edges_of_the_window_and_of_grace(checkin_app, checkin, case_id, clock, moment,
                                                     timing, status):
    clock.move_to(moment)
    recorded = await in_person(checkin, case_id)
    assert recorded["timing"] == timing
    first = (await expected(checkin_app, case_id))[0]
    assert first.opens_at == FIRST_OPENS
    assert first.status == status
    if timing == Timing.unscheduled:
        assert recorded["expected_checkin_id"] is None
    else:
        assert recorded["expected_checkin_id"] == str(first.id)
        assert first.checkin_id == uuid.UUID(recorded["id"])


async def test_a_check_in_a_second_after_grace_is_a_contact_and_the_window_is_missed(
        checkin_app, checkin, case_id, clock):
    clock.move_to(GRACE_ENDS + SECOND)
    await in_person(checkin, case_id)
    await run_jobs(checkin_app)
    first = (await expected(checkin_app, case_id))[0]
    assert first.status == Outcome.missed
    [contact] = await checkins(checkin_app, case_id)
    assert contact.timing == Timing.unscheduled
    assert [c["id"] for c in (await case_checkins(checkin, case_id))["unscheduled_contacts"]] == [
        str(contact.id)]


async def test_the_job_leaves_a_window_alone_until_its_grace_is_over(
        checkin_app, case_id, clock):
    clock.move_to(GRACE_ENDS)
    await run_jobs(checkin_app)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.pending
    clock.move_to(GRACE_ENDS + SECOND)
    await run_jobs(checkin_app)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.missed


# --- what a caseworker sees -------------------------------------------------------------


async def test_the_case_view_shows_every_outcome_in_local_time(checkin_app, checkin, case_id,
                                                               clock):
    clock.move_to(datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    contact = await in_person(checkin, case_id)  # nothing due on a Wednesday
    planned = await expected(checkin_app, case_id)
    assert (await excusal(checkin, planned[3].id, "Court hearing")).status_code == 200
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    await in_person(checkin, case_id)
    clock.move_to(FIRST_OPENS + WEEK + timedelta(days=1, hours=1))  # Tuesday: grace
    await in_person(checkin, case_id)
    clock.move_to(FIRST_OPENS + 2 * WEEK + timedelta(days=2))  # the third one's grace is over
    await run_jobs(checkin_app)

    view = await case_checkins(checkin, case_id)
    assert (view["case_id"], view["status"], view["timezone"]) == (
        str(case_id), "active", "Europe/London")
    outcomes = [e["outcome"] for e in view["expected"]]
    assert outcomes[:5] == ["on_time", "late", "missed", "excused", "pending"]
    assert set(outcomes[5:]) == {"pending"}
    first = view["expected"][0]
    assert datetime.fromisoformat(first["opens_at"]) == FIRST_OPENS
    opens_local = datetime.fromisoformat(first["opens_local"])
    assert (opens_local.hour, opens_local.minute) == (9, 0)
    assert opens_local.utcoffset() == timedelta(0)  # GMT in December
    assert datetime.fromisoformat(first["closes_local"]).hour == 19
    assert datetime.fromisoformat(first["grace_ends_local"]) == GRACE_ENDS
    assert first["checkin"]["reporting_centre"] == "Croydon"
    assert first["checkin"]["identity_confirmed_by"] == "document"
    assert view["expected"][1]["checkin"]["timing"] == "late"
    assert view["expected"][2]["checkin"] is None and view["expected"][2]["excusal"] is None
    assert view["expected"][3]["excusal"] == {
        "reason": "Court hearing", "excused_by": "alice", "outage_id": None}
    [unscheduled] = view["unscheduled_contacts"]
    assert unscheduled["id"] == contact["id"]
    assert unscheduled["timing"] == "unscheduled"


async def test_local_times_follow_the_persons_time_zone(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, timezone="America/New_York", phone="+12125550100")
    first = (await case_checkins(checkin, case_id))["expected"][0]
    assert datetime.fromisoformat(first["opens_at"]) == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    local = datetime.fromisoformat(first["opens_local"])
    assert (local.hour, local.utcoffset()) == (9, timedelta(hours=-5))


async def test_the_case_view_is_for_caseworkers_only(checkin, case_id):
    unknown = await checkin.get(f"/v1/cases/{uuid.uuid4()}/checkins", headers=CASEWORKER)
    assert unknown.status_code == 404
    for headers in (OFFICER, AUTHORITY):
        response = await checkin.get(f"/v1/cases/{case_id}/checkins", headers=headers)
        assert response.status_code == 403
    assert (await checkin.get(f"/v1/cases/{case_id}/checkins")).status_code == 401


# --- the missed job and its follow-up ---------------------------------------------------


async def test_the_missed_job_is_idempotent_and_opens_one_follow_up(checkin_app, clock):
    case_id = await add_case(checkin_app, caseworker="bob",
                             vulnerabilities=["child", "disability"])
    clock.move_to(GRACE_ENDS + timedelta(hours=1))
    await run_jobs(checkin_app)
    await run_jobs(checkin_app)
    first = (await expected(checkin_app, case_id))[0]
    assert [e.status for e in await expected(checkin_app, case_id)].count(Outcome.missed) == 1
    assert first.status == Outcome.missed
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert (follow_up.kind, follow_up.status, follow_up.assigned_to) == (
        FollowUpKind.missed_checkin, FollowUpStatus.open, "bob")
    assert follow_up.expected_checkin_id == first.id
    assert follow_up.vulnerabilities == ["child", "disability"]
    assert "not delivered" not in follow_up.detail
    outcomes = outcome_events(await events(checkin_app, "expected_checkin.outcome"), first.id)
    assert len(outcomes) == 1 and outcomes[0].data["status"] == "missed"
    assert len(await events(checkin_app, "follow_up.opened")) == 1


async def test_a_follow_up_says_when_the_reminder_was_not_delivered(checkin_app, case_id, clock):
    first = (await expected(checkin_app, case_id))[0]
    async with checkin_app.state.sessionmaker() as session, session.begin():
        await feeds.apply_notifications_change(session, Change(
            cursor="0-1", type="reminder.status", subject_id=str(uuid.uuid4()),
            occurred_at=BEFORE_START,
            data={"expected_checkin_id": str(first.id), "status": "undelivered"}))
    clock.move_to(GRACE_ENDS + SECOND)
    await run_jobs(checkin_app)
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert "reminder was not delivered" in follow_up.detail
    assert "undelivered" in follow_up.detail


# --- excusals -------------------------------------------------------------------------


async def test_an_excusal_before_the_window_holds_and_opens_no_follow_up(
        checkin_app, checkin, case_id, clock):
    first = (await expected(checkin_app, case_id))[0]
    response = await excusal(checkin, first.id, "Hospital appointment")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "excused"
    assert body["excusal"]["reason"] == "Hospital appointment"
    assert body["excusal"]["excused_by"] == "alice"
    clock.move_to(GRACE_ENDS + timedelta(days=1))
    await run_jobs(checkin_app)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.excused
    assert await follow_ups(checkin_app, case_id) == []


async def test_an_excusal_turns_a_missed_check_in_into_excused(checkin_app, checkin, case_id,
                                                               clock):
    clock.move_to(GRACE_ENDS + timedelta(days=1))
    await run_jobs(checkin_app)
    first = (await expected(checkin_app, case_id))[0]
    assert first.status == Outcome.missed
    response = await excusal(checkin, first.id, "Was in hospital")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "excused"
    assert (await case_checkins(checkin, case_id))["expected"][0]["excusal"]["reason"] == (
        "Was in hospital")
    last = outcome_events(await events(checkin_app, "expected_checkin.outcome"), first.id)[-1]
    assert (last.data["status"], last.data["excusal_reason"]) == ("excused", "Was in hospital")
    # The missed check-in's follow-up is done: the caseworker dealt with it.
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert (follow_up.status, follow_up.closed_by) == (FollowUpStatus.closed, "alice")
    assert follow_up.note == "Excused: Was in hospital"


async def test_an_attended_check_in_cannot_be_excused(checkin_app, checkin, case_id, clock):
    clock.move_to(FIRST_OPENS)
    await in_person(checkin, case_id)
    first = (await expected(checkin_app, case_id))[0]
    response = await excusal(checkin, first.id)
    assert response.status_code == 409
    assert (await expected(checkin_app, case_id))[0].status == Outcome.on_time


async def test_excusing_an_unknown_check_in_is_404(checkin):
    assert (await excusal(checkin, uuid.uuid4())).status_code == 404


@pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "   "}, {}])
async def test_an_excusal_needs_a_reason(checkin_app, checkin, case_id, body):
    first = (await expected(checkin_app, case_id))[0]
    response = await checkin.post(f"/v1/expected-checkins/{first.id}/excusal", json=body,
                                  headers=CASEWORKER)
    assert response.status_code == 422
    assert "reason" in [e["field"] for e in response.json()["errors"]]
    assert (await expected(checkin_app, case_id))[0].status == Outcome.pending


async def test_only_caseworkers_excuse(checkin_app, checkin, case_id):
    first = (await expected(checkin_app, case_id))[0]
    for headers in (OFFICER, AUTHORITY):
        assert (await excusal(checkin, first.id, headers=headers)).status_code == 403


async def test_a_check_in_during_an_excused_window_still_counts_on_time(
        checkin_app, checkin, case_id, clock):
    first = (await expected(checkin_app, case_id))[0]
    assert (await excusal(checkin, first.id)).status_code == 200
    clock.move_to(FIRST_OPENS + timedelta(hours=2))
    recorded = await in_person(checkin, case_id)
    assert recorded["timing"] == "on_time"
    assert recorded["expected_checkin_id"] == str(first.id)
    assert (await expected(checkin_app, case_id))[0].status == Outcome.on_time


# --- suspension mid-schedule ----------------------------------------------------------


async def test_suspension_mid_schedule(checkin_app, checkin, case_id, clock):
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    await in_person(checkin, case_id)
    planned = await expected(checkin_app, case_id)
    future_ids = {str(e.id) for e in planned[1:]}
    assert future_ids

    clock.move_to(FIRST_OPENS + timedelta(hours=3))
    await apply(checkin_app, case_change(case_id=case_id, version=2, status="suspended"))
    [kept] = await expected(checkin_app, case_id)
    assert (kept.opens_at, kept.status) == (FIRST_OPENS, Outcome.on_time)
    cancelled = {e.data["id"] for e in await events(checkin_app, "expected_checkin.cancelled")}
    assert cancelled == future_ids

    # Weeks pass while suspended: nothing is expected, so nothing is missed.
    clock.move_to(FIRST_OPENS + 3 * WEEK)
    await run_jobs(checkin_app)
    assert [e.status for e in await expected(checkin_app, case_id)] == [Outcome.on_time]
    assert await follow_ups(checkin_app, case_id) == []
    assert (await case_checkins(checkin, case_id))["status"] == "suspended"

    # Reactivated on a Wednesday: windows again, only from the next Monday.
    reactivated = FIRST_OPENS + 3 * WEEK + timedelta(days=2)
    clock.move_to(reactivated)
    await apply(checkin_app, case_change(case_id=case_id, version=3, status="active"))
    again = await expected(checkin_app, case_id)
    assert again[0].status == Outcome.on_time
    assert len(again) > 1
    assert all(e.opens_at > reactivated and e.status == Outcome.pending for e in again[1:])
    assert again[1].opens_at == FIRST_OPENS + 4 * WEEK
    await run_jobs(checkin_app)
    assert [e.status for e in await expected(checkin_app, case_id)].count(Outcome.missed) == 0


async def test_no_in_person_check_in_while_suspended(checkin_app, checkin, case_id, clock):
    await apply(checkin_app, case_change(case_id=case_id, version=2, status="suspended"))
    clock.move_to(FIRST_OPENS)
    response = await checkin.post("/v1/checkins", headers=OFFICER, json={
        "case_id": str(case_id), "reporting_centre": "Croydon",
        "identity_confirmed_by": "document"})
    assert response.status_code == 409
    assert await checkins(checkin_app, case_id) == []


# --- outages: blame the system, not the person -----------------------------------------


async def test_an_outage_excuses_a_missed_check_in_and_closes_its_follow_up(
        checkin_app, checkin, case_id, clock):
    clock.move_to(GRACE_ENDS + timedelta(days=1))
    await run_jobs(checkin_app)
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert follow_up.status == FollowUpStatus.open

    response = await declare(checkin, starts_at=FIRST_OPENS + timedelta(hours=1),
                             ends_at=FIRST_OPENS + timedelta(hours=4))
    assert response.status_code == 201, response.text
    outage = response.json()
    assert (outage["excused"], outage["channel"], outage["declared_by"]) == (1, "sms", "sam")

    first = (await case_checkins(checkin, case_id))["expected"][0]
    assert first["outcome"] == "excused"
    assert "SMS gateway down" in first["excusal"]["reason"]
    assert first["excusal"]["outage_id"] == outage["id"]
    assert first["excusal"]["excused_by"] == "system"
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert follow_up.status == FollowUpStatus.closed
    assert "SMS gateway down" in (follow_up.note or "")
    listed = await checkin.get("/v1/outages", headers=CASEWORKER)
    assert [o["id"] for o in listed.json()] == [outage["id"]]


async def test_an_outage_leaves_a_window_it_did_not_overlap_missed(checkin_app, checkin,
                                                                   case_id, clock):
    clock.move_to(GRACE_ENDS + WEEK + timedelta(days=1))
    await run_jobs(checkin_app)
    first, second = (await expected(checkin_app, case_id))[:2]
    assert (first.status, second.status) == (Outcome.missed, Outcome.missed)

    response = await declare(checkin, starts_at=FIRST_OPENS + WEEK + timedelta(hours=1),
                             ends_at=FIRST_OPENS + WEEK + timedelta(hours=2))
    assert response.json()["excused"] == 1
    first, second = (await expected(checkin_app, case_id))[:2]
    assert (first.status, second.status) == (Outcome.missed, Outcome.excused)
    by_window = {f.expected_checkin_id: f.status for f in await follow_ups(checkin_app, case_id)}
    assert by_window == {first.id: "open", second.id: "closed"}


async def test_an_outage_on_a_channel_the_case_does_not_use_excuses_nothing(
        checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, channels=["in_person"])
    clock.move_to(GRACE_ENDS + timedelta(days=1))
    await run_jobs(checkin_app)
    response = await declare(checkin, starts_at=FIRST_OPENS, ends_at=GRACE_ENDS)
    assert response.status_code == 201
    assert response.json()["excused"] == 0
    assert (await expected(checkin_app, case_id))[0].status == Outcome.missed
    [follow_up] = await follow_ups(checkin_app, case_id)
    assert follow_up.status == FollowUpStatus.open


async def test_an_outage_declared_before_the_job_excuses_instead_of_missing(
        checkin_app, checkin, case_id, clock):
    clock.move_to(GRACE_ENDS + timedelta(hours=2))
    response = await declare(checkin, starts_at=FIRST_OPENS, ends_at=FIRST_OPENS + timedelta(hours=6),
                             channel="all", reason="Telephone and SMS gateway down")
    assert response.json()["excused"] == 0  # still pending: the job decides it
    await run_jobs(checkin_app)
    first = (await expected(checkin_app, case_id))[0]
    assert first.status == Outcome.excused
    assert str(first.outage_id) == response.json()["id"]
    assert "SMS gateway down" in (first.excusal_reason or "")
    assert await follow_ups(checkin_app, case_id) == []
    [outcome] = outcome_events(await events(checkin_app, "expected_checkin.outcome"), first.id)
    assert outcome.data["status"] == "excused"


async def test_only_a_supervisor_declares_an_outage(checkin_app, checkin, case_id):
    for headers in (CASEWORKER, OFFICER, AUTHORITY):
        response = await declare(checkin, starts_at=FIRST_OPENS,
                                 ends_at=FIRST_OPENS + timedelta(hours=1), headers=headers)
        assert response.status_code == 403
    assert await rows(checkin_app, Outage) == []


@pytest.mark.parametrize(("starts_at", "ends_at"), [
    (FIRST_OPENS + timedelta(hours=1), FIRST_OPENS),
    (FIRST_OPENS, FIRST_OPENS),
])
async def test_an_outage_must_end_after_it_starts(checkin, starts_at, ends_at):
    response = await declare(checkin, starts_at=starts_at, ends_at=ends_at)
    assert response.status_code == 422
    assert "ends_at" in response.text


async def test_an_outage_needs_time_zones(checkin):
    response = await checkin.post("/v1/outages", headers=SUPERVISOR, json={
        "channel": "sms", "starts_at": "2026-12-07T09:00:00", "ends_at": "2026-12-07T10:00:00",
        "reason": "SMS gateway down"})
    assert response.status_code == 422
