"""Expected check-ins follow the reporting requirement in the person's own time zone,
across changes to and from summer time, and only while the case is active."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from checkin.schedule import Requirement, windows

from tests.checkin.helpers import add_case, apply, case_change, events, expected, run_jobs

LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(zone: str, day: str, opens: time, starts_on: date, **kw) -> Requirement:
    return Requirement(rrule=f"FREQ=WEEKLY;BYDAY={day}", window_opens=opens,
                       window_hours=kw.get("hours", 10), grace_hours=kw.get("grace", 24),
                       timezone=zone, starts_on=starts_on)


def test_a_london_window_stays_at_nine_local_when_the_clocks_go_forward():
    rule = weekly("Europe/London", "MO", time(9), date(2027, 3, 15))
    found = list(windows(rule, after=utc(2027, 3, 14), until=utc(2027, 4, 6)))
    assert [w.opens_at for w in found] == [
        utc(2027, 3, 15, 9), utc(2027, 3, 22, 9),  # GMT
        utc(2027, 3, 29, 8), utc(2027, 4, 5, 8),  # BST from Sunday 28 March
    ]
    assert {w.opens_at.astimezone(LONDON).time() for w in found} == {time(9)}
    assert {w.closes_at.astimezone(LONDON).time() for w in found} == {time(19)}


def test_a_london_window_stays_at_nine_local_when_the_clocks_go_back():
    rule = weekly("Europe/London", "MO", time(9), date(2027, 10, 25))
    found = list(windows(rule, after=utc(2027, 10, 24), until=utc(2027, 11, 2)))
    # Clocks go back on Sunday 31 October 2027: BST before, GMT after.
    assert [w.opens_at for w in found] == [utc(2027, 10, 25, 8), utc(2027, 11, 1, 9)]


def test_grace_across_the_change_ends_at_the_same_local_hour():
    # Saturday 27 March 2027, 18:00 GMT window opens; 24 h grace spans the change.
    rule = weekly("Europe/London", "SA", time(9), date(2027, 3, 27), hours=9, grace=24)
    [window] = windows(rule, after=utc(2027, 3, 26), until=utc(2027, 3, 28))
    assert window.closes_at == utc(2027, 3, 27, 18)
    assert window.grace_ends_at.astimezone(LONDON) == datetime(2027, 3, 28, 18, tzinfo=LONDON)
    assert window.grace_ends_at == utc(2027, 3, 28, 17)  # 23 elapsed hours: the lost hour


def test_new_york_windows_follow_eastern_time_across_both_changes():
    rule = weekly("America/New_York", "MO", time(10), date(2027, 3, 8))
    spring = list(windows(rule, after=utc(2027, 3, 7), until=utc(2027, 3, 16)))
    assert [w.opens_at for w in spring] == [utc(2027, 3, 8, 15), utc(2027, 3, 15, 14)]
    autumn = list(windows(rule, after=utc(2027, 11, 1), until=utc(2027, 11, 9)))
    assert [w.opens_at for w in autumn] == [utc(2027, 11, 1, 14), utc(2027, 11, 8, 15)]
    assert {w.opens_at.astimezone(NEW_YORK).hour for w in spring + autumn} == {10}


def test_a_window_in_the_spring_gap_opens_once_the_clocks_have_jumped():
    # 02:30 does not exist in New York on Sunday 14 March 2027: it becomes 03:30 EDT.
    rule = Requirement(rrule="FREQ=DAILY", window_opens=time(2, 30), window_hours=2,
                       grace_hours=1, timezone="America/New_York", starts_on=date(2027, 3, 13))
    found = list(windows(rule, after=utc(2027, 3, 13), until=utc(2027, 3, 16)))
    local = [w.opens_at.astimezone(NEW_YORK) for w in found]
    assert [(d.day, d.hour, d.minute) for d in local] == [(13, 2, 30), (14, 3, 30), (15, 2, 30)]
    assert all(w.opens_at < w.closes_at < w.grace_ends_at for w in found)


def test_an_autumn_overlap_time_is_the_first_of_the_two():
    rule = Requirement(rrule="FREQ=DAILY;COUNT=1", window_opens=time(1, 30), window_hours=1,
                       grace_hours=1, timezone="Europe/London", starts_on=date(2027, 10, 31))
    [window] = windows(rule, after=utc(2027, 10, 30), until=utc(2027, 11, 1))
    assert window.opens_at == utc(2027, 10, 31, 0, 30)  # 01:30 BST, not 01:30 GMT


async def test_a_new_case_is_planned_eight_weeks_ahead(checkin_app, clock):
    case_id = await add_case(checkin_app)
    planned = await expected(checkin_app, case_id)
    assert [e.opens_at for e in planned] == [utc(2026, 12, 7, 9) + timedelta(weeks=n)
                                             for n in range(4)] + [
        utc(2027, 1, 4, 9) + timedelta(weeks=n) for n in range(0, 4)]
    assert {e.status for e in planned} == {"pending"}
    assert len(await events(checkin_app, "expected_checkin.planned")) == 8


async def test_nothing_already_open_is_expected_of_a_case_created_mid_window(checkin_app, clock):
    clock.move_to(utc(2026, 12, 7, 10))  # Monday's window opened an hour ago
    case_id = await add_case(checkin_app)
    assert (await expected(checkin_app, case_id))[0].opens_at == utc(2026, 12, 14, 9)


async def test_the_horizon_rolls_forward_with_the_scheduled_job(checkin_app, clock):
    case_id = await add_case(checkin_app)
    clock.move_to(utc(2026, 12, 29, 12))
    await run_jobs(checkin_app)
    planned = await expected(checkin_app, case_id)
    assert planned[-1].opens_at == utc(2027, 2, 22, 9)  # eight weeks after 29 December
    assert len({e.opens_at for e in planned}) == len(planned)
    await run_jobs(checkin_app)  # nothing new: the job is idempotent
    assert len(await expected(checkin_app, case_id)) == len(planned)


async def test_a_changed_requirement_replaces_the_future_and_keeps_the_past(checkin_app, clock):
    case_id = await add_case(checkin_app)
    clock.move_to(utc(2026, 12, 15, 12))  # the 7 Dec window is past, 14 Dec in grace
    await run_jobs(checkin_app)
    await apply(checkin_app, case_change(case_id=case_id, version=2, rrule="FREQ=WEEKLY;BYDAY=TH",
                                         window_opens="14:00"))
    planned = await expected(checkin_app, case_id)
    past = [e for e in planned if e.opens_at < utc(2026, 12, 15)]
    future = [e for e in planned if e.opens_at > utc(2026, 12, 15, 12)]
    assert [(e.opens_at, e.status) for e in past] == [
        (utc(2026, 12, 7, 9), "missed"), (utc(2026, 12, 14, 9), "pending")]
    assert future[0].opens_at == utc(2026, 12, 17, 14)
    assert {e.opens_at.weekday() for e in future} == {3}  # Thursdays only
    assert len(await events(checkin_app, "expected_checkin.cancelled")) >= 7


async def test_nothing_is_expected_while_suspended(checkin_app, clock):
    case_id = await add_case(checkin_app)
    clock.move_to(utc(2026, 12, 14, 10))  # inside the second window
    await apply(checkin_app, case_change(case_id=case_id, version=2, status="suspended"))
    planned = await expected(checkin_app, case_id)
    # 7 December stays (its grace is over); the open one and all ahead are withdrawn.
    assert [e.opens_at for e in planned] == [utc(2026, 12, 7, 9)]
    clock.move_to(utc(2027, 1, 20, 12))
    await run_jobs(checkin_app)
    assert len(await expected(checkin_app, case_id)) == 1  # the job plans nothing meanwhile
    await apply(checkin_app, case_change(case_id=case_id, version=3, status="active"))
    planned = await expected(checkin_app, case_id)
    assert planned[1].opens_at == utc(2027, 1, 25, 9)  # only after the reactivation


@pytest.mark.parametrize("status", ["resolved", "closed"])
async def test_a_resolved_or_closed_case_expects_nothing_more(checkin_app, clock, status):
    case_id = await add_case(checkin_app)
    await apply(checkin_app, case_change(case_id=case_id, version=2, status=status))
    assert await expected(checkin_app, case_id) == []
    clock.move_to(utc(2027, 2, 1))
    await run_jobs(checkin_app)
    assert await expected(checkin_app, case_id) == []


async def test_a_replayed_change_plans_nothing_twice(checkin_app, clock):
    change = case_change()
    await apply(checkin_app, change)
    await apply(checkin_app, change)
    case_id = change.data["id"]
    import uuid

    assert len(await expected(checkin_app, uuid.UUID(case_id))) == 8
