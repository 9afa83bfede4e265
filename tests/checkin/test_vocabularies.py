"""Every member of every vocabulary an endpoint lists is a row that endpoint answers
200 with: a new member added to ``checkin.enums`` is covered here automatically, and
the database's CHECK constraints accept it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from checkin.enums import (
    CaseStatus,
    Channel,
    FollowUpKind,
    FollowUpStatus,
    IdentityCheck,
    OutageChannel,
    Outcome,
    ReminderDelivery,
    Timing,
)
from checkin.models import Checkin, ExpectedCheckin, FollowUp, Outage

from tests.checkin.helpers import CASEWORKER, SUPERVISOR, add_case, sms

OPENS = datetime(2026, 11, 23, 9, tzinfo=UTC)  # a Monday before the tests' clock


async def add(app, *rows) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        session.add_all(rows)


def window(case_id: uuid.UUID, **values) -> ExpectedCheckin:
    return ExpectedCheckin(case_id=case_id, opens_at=OPENS, closes_at=OPENS + timedelta(hours=10),
                           grace_ends_at=OPENS + timedelta(hours=34), **values)


async def case_checkins(client, case_id: uuid.UUID) -> dict:
    response = await client.get(f"/v1/cases/{case_id}/checkins", headers=CASEWORKER)
    assert response.status_code == 200, response.text
    return response.json()


async def follow_up_list(client, **params) -> list[dict]:
    response = await client.get("/v1/follow-ups", params=params, headers=CASEWORKER)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.parametrize("status", list(FollowUpStatus))
@pytest.mark.parametrize("kind", list(FollowUpKind))
async def test_follow_ups_of_every_kind_and_status_are_listed(checkin_app, checkin, clock,
                                                              kind, status):
    case_id = await add_case(checkin_app)
    row = FollowUp(case_id=case_id, kind=kind, status=status, assigned_to="alice",
                   detail="something to look at")
    await add(checkin_app, row)
    for params in ({}, {"case_id": str(case_id)}, {"status": status.value}):
        [listed] = [i for i in await follow_up_list(checkin, **params) if i["id"] == str(row.id)]
        assert (listed["kind"], listed["status"]) == (kind, status)
    assert any(i["id"] == str(row.id) for i in await follow_up_list(checkin, mine="true"))


async def test_after_a_stop_the_follow_ups_still_list(checkin_app, checkin, case):
    case_id, _ = case
    assert (await sms(checkin, "STOP")).status_code == 200
    for params in ({}, {"status": "open"}, {"case_id": str(case_id)}):
        assert [i["kind"] for i in await follow_up_list(checkin, **params)] == ["opted_out"]


@pytest.mark.parametrize("outcome", list(Outcome))
async def test_expected_check_ins_of_every_outcome_are_listed(checkin_app, checkin, clock,
                                                              outcome):
    case_id = await add_case(checkin_app)
    row = window(case_id, status=outcome)
    await add(checkin_app, row)
    [listed] = [e for e in (await case_checkins(checkin, case_id))["expected"]
                if e["id"] == str(row.id)]
    assert listed["outcome"] == outcome


@pytest.mark.parametrize("delivery", list(ReminderDelivery))
async def test_every_reminder_delivery_is_listed(checkin_app, checkin, clock, delivery):
    case_id = await add_case(checkin_app)
    row = window(case_id, reminder_status=delivery)
    await add(checkin_app, row)
    [listed] = [e for e in (await case_checkins(checkin, case_id))["expected"]
                if e["id"] == str(row.id)]
    assert listed["reminder_status"] == delivery


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("timing", list(Timing))
async def test_check_ins_of_every_channel_and_timing_are_listed(checkin_app, checkin, clock,
                                                                channel, timing):
    case_id = await add_case(checkin_app)
    row = Checkin(case_id=case_id, channel=channel, timing=timing, received_at=OPENS)
    await add(checkin_app, row)
    [listed] = (await case_checkins(checkin, case_id))["unscheduled_contacts"]
    assert (listed["channel"], listed["timing"]) == (channel, timing)


@pytest.mark.parametrize("confirmed_by", list(IdentityCheck))
async def test_every_identity_check_is_listed(checkin_app, checkin, clock, confirmed_by):
    case_id = await add_case(checkin_app)
    expected = window(case_id, status=Outcome.on_time)
    checkin_row = Checkin(case_id=case_id, channel=Channel.in_person, timing=Timing.on_time,
                          received_at=OPENS + timedelta(hours=1), expected_checkin_id=expected.id,
                          reporting_centre="Croydon", identity_confirmed_by=confirmed_by)
    expected.checkin_id = checkin_row.id
    await add(checkin_app, expected, checkin_row)
    [listed] = [e for e in (await case_checkins(checkin, case_id))["expected"]
                if e["id"] == str(expected.id)]
    assert listed["checkin"]["identity_confirmed_by"] == confirmed_by


@pytest.mark.parametrize("status", list(CaseStatus))
async def test_cases_of_every_status_list_their_check_ins(checkin_app, checkin, clock, status):
    case_id = await add_case(checkin_app, status=status)
    assert (await case_checkins(checkin, case_id))["status"] == status


@pytest.mark.parametrize("channel", list(OutageChannel))
async def test_outages_of_every_channel_are_listed(checkin_app, checkin, clock, channel):
    row = Outage(channel=channel, starts_at=OPENS, ends_at=OPENS + timedelta(hours=2),
                 reason="carrier incident", declared_by="sam")
    await add(checkin_app, row)
    response = await checkin.get("/v1/outages", headers=CASEWORKER)
    assert response.status_code == 200, response.text
    [listed] = [o for o in response.json() if o["id"] == str(row.id)]
    assert listed["channel"] == channel


@pytest.mark.parametrize("outcome", list(Outcome))
async def test_summaries_count_every_outcome(checkin_app, checkin, clock, outcome):
    threshold = checkin_app.state.settings.suppression_threshold
    for _ in range(threshold):  # enough people that nothing is withheld
        await add(checkin_app, window(await add_case(checkin_app), status=outcome))
    response = await checkin.get(
        "/v1/summaries/attendance", headers=SUPERVISOR,
        params={"from": date(2026, 11, 23).isoformat(), "to": date(2026, 11, 23).isoformat()})
    assert response.status_code == 200, response.text
    row = response.json()["total"]  # no grouping: the total alone
    assert row[outcome] == threshold and row["expected"] == threshold


