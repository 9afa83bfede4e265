"""The reminder plan kept from the registry's and checkin's feeds, and the caseworker's list."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from notifications.enums import Channel, ReminderKind, ReminderStatus
from notifications.models import Reminder

from tests.checkin.helpers import VAULT
from tests.conftest import auth
from tests.notifications.helpers import (
    CASEWORKER,
    FIRST_OPENS,
    PHONE,
    add_person,
    case_change,
    dispatch,
    from_checkin,
    from_registry,
    reminders,
    window,
)


async def test_a_pending_check_in_gets_three_reminders_in_the_persons_language(
        notifications_app, notifications, clock):
    case_id, expected_id = await add_person(notifications_app, language="ar")
    planned = await reminders(notifications_app, case_id)
    assert set(planned) == set(ReminderKind)
    assert {r.status for r in planned.values()} == {ReminderStatus.planned}
    assert planned["evening_before"].due_at == FIRST_OPENS - timedelta(hours=15)  # Sun 18:00
    for kind, reminder in planned.items():
        assert reminder.channel == Channel.sms and reminder.language == "ar"
        # CLDR's Arabic: December and the 12-hour clock (م: after noon); "open now until"
        # names only the time.
        assert ("ديسمبر" in reminder.body) == (kind != ReminderKind.window_opens)
        assert "7:00 م" in reminder.body
        assert reminder.encoding == "UCS-2" and 1 <= reminder.segments <= 2

    listed = await notifications.get(f"/v1/cases/{case_id}/notifications", headers=CASEWORKER)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {i["kind"] for i in items} == set(planned)
    assert all(i["expected_checkin_id"] == expected_id for i in items)
    assert PHONE not in listed.text and "phone" not in items[0]


async def test_the_list_is_for_caseworkers_and_known_cases(notifications_app, notifications, clock):
    case_id, _ = await add_person(notifications_app)
    path = f"/v1/cases/{case_id}/notifications"
    assert (await notifications.get(path, headers=auth("authority"))).status_code == 403
    assert (await notifications.get(path)).status_code == 401
    unknown = await notifications.get(f"/v1/cases/{uuid.uuid4()}/notifications",
                                      headers=CASEWORKER)
    assert unknown.status_code == 404


async def test_check_ins_arriving_before_the_case_are_planned_when_it_arrives(
        notifications_app, clock):
    change = case_change(language="fr")
    case_id = uuid.UUID(change.data["id"])
    await from_checkin(notifications_app, "expected_checkin.planned", window(case_id))
    assert await reminders(notifications_app, case_id) == {}
    await from_registry(notifications_app, change)
    planned = await reminders(notifications_app, case_id)
    assert len(planned) == 3
    assert planned["window_opens"].body.startswith("Votre pointage est ouvert")
    assert planned["window_opens"].encoding == "GSM-7"


async def test_a_check_in_cancels_what_is_still_planned(notifications_app, notifications, clock):
    case_id, expected_id = await add_person(notifications_app)
    data = window(case_id, id=uuid.UUID(expected_id), status="on_time")
    await from_checkin(notifications_app, "expected_checkin.outcome", data)
    planned = await reminders(notifications_app, case_id)
    assert {r.status for r in planned.values()} == {ReminderStatus.cancelled}
    assert planned["nudge"].error == "check-in on_time"
    listed = await notifications.get(f"/v1/cases/{case_id}/notifications", headers=CASEWORKER)
    assert {i["status"] for i in listed.json()["items"]} == {ReminderStatus.cancelled}


async def test_an_excusal_and_a_withdrawn_window_cancel_too(notifications_app, clock):
    case_id, expected_id = await add_person(notifications_app)
    await from_checkin(notifications_app, "expected_checkin.outcome",
                       window(case_id, id=uuid.UUID(expected_id), status="excused"))
    assert {r.status for r in (await reminders(notifications_app, case_id)).values()} == {
        "cancelled"}
    other, expected_id = await add_person(notifications_app)
    await from_checkin(notifications_app, "expected_checkin.cancelled",
                       {"id": expected_id, "case_id": str(other)})
    assert {r.status for r in (await reminders(notifications_app, other)).values()} == {
        "cancelled"}


async def test_suspension_cancels_and_reactivation_plans_again(notifications_app, clock):
    change = case_change()
    case_id = uuid.UUID(change.data["id"])
    await from_registry(notifications_app, change)
    first = window(case_id)
    await from_checkin(notifications_app, "expected_checkin.planned", first)
    await from_registry(notifications_app, case_change(case_id=case_id, version=2,
                                                        status="suspended"))
    assert {r.status for r in (await reminders(notifications_app, case_id)).values()} == {
        "cancelled"}
    # Reactivated: checkin withdraws the old window and plans new ones.
    await from_registry(notifications_app, case_change(case_id=case_id, version=3))
    await from_checkin(notifications_app, "expected_checkin.cancelled", first)
    later = window(case_id, FIRST_OPENS + timedelta(days=7))
    await from_checkin(notifications_app, "expected_checkin.planned", later)
    planned = [r for r in (await reminders(notifications_app, case_id)).values()]
    assert len(planned) == 3 and {str(r.expected_checkin_id) for r in planned} == {later["id"]}


async def test_replayed_events_plan_nothing_twice(notifications_app, clock):
    change = case_change()
    case_id = uuid.UUID(change.data["id"])
    expected = window(case_id)
    for _ in range(3):
        await from_registry(notifications_app, change)
        await from_checkin(notifications_app, "expected_checkin.planned", expected)
    assert len(await reminders(notifications_app, case_id)) == 3


async def test_a_language_change_rewords_what_is_planned(notifications_app, clock):
    case_id, _ = await add_person(notifications_app, language="en")
    assert (await reminders(notifications_app, case_id))["nudge"].body.startswith("A gentle")
    await from_registry(notifications_app, case_change(case_id=case_id, version=2, language="es"))
    nudge = (await reminders(notifications_app, case_id))["nudge"]
    assert nudge.language == "es" and nudge.status == ReminderStatus.planned
    assert "Tuesday" not in nudge.body and "martes" in nudge.body


async def test_voice_only_people_get_calls_and_in_person_only_get_nothing(notifications_app, clock):
    voice, _ = await add_person(notifications_app, channels=["voice", "in_person"])
    assert {r.channel for r in (await reminders(notifications_app, voice)).values()} == {Channel.voice}
    counter, _ = await add_person(notifications_app, channels=["in_person"])
    assert await reminders(notifications_app, counter) == {}


async def test_stop_moves_reminders_to_a_call_or_stops_them_and_start_resumes(
        notifications_app, clock):
    both, _ = await add_person(notifications_app, channels=["sms", "voice"])
    sms_only, _ = await add_person(notifications_app, channels=["sms"], phone="+447911123457")

    for phone, case_id in (("+447911123456", both), ("+447911123457", sms_only)):
        await from_checkin(notifications_app, "contact.opted_out",
                           {"phone_hash": VAULT.lookup_hash(phone), "case_ids": [str(case_id)]})
    assert {r.channel for r in (await reminders(notifications_app, both)).values()} == {Channel.voice}
    assert {r.status for r in (await reminders(notifications_app, sms_only)).values()} == {
        "cancelled"}

    await from_checkin(notifications_app, "contact.opted_in",
                       {"phone_hash": VAULT.lookup_hash("+447911123456"),
                        "case_ids": [str(both)]})
    assert {r.channel for r in (await reminders(notifications_app, both)).values()} == {Channel.sms}


async def test_each_programme_has_its_own_policy(database_urls, clock):
    from notifications.app import create_app

    from tests.conftest import notifications_settings, rolled_back

    settings = notifications_settings(
        database_urls["notifications"],
        WAYMARK_REMINDER_POLICIES={"community_case_management": {"evening_before": None}})
    async with rolled_back(create_app(settings)) as app:
        case_id, _ = await add_person(app)
        assert set(await reminders(app, case_id)) == {"window_opens", "nudge"}


async def test_a_due_reminder_waiting_its_turn_survives_a_replan(notifications_app, clock):
    """Planned again while one is due and not yet sent (a backlog, a restart, a change to
    the case at that moment): it stays planned, in the new words, its retry backoff
    untouched, and the dispatcher sends it; a STOP still cancels it."""
    case_id, _ = await add_person(notifications_app, channels=["sms"])
    other, _ = await add_person(notifications_app, channels=["sms"], phone="+447911123457")
    due = (await reminders(notifications_app, case_id))["evening_before"].due_at
    clock.move_to(due + timedelta(minutes=1))
    backoff = due + timedelta(minutes=5)  # as after a refused first attempt
    async with notifications_app.state.sessionmaker() as session, session.begin():
        await session.execute(sa.update(Reminder).where(
            Reminder.case_id == case_id, Reminder.kind == ReminderKind.evening_before)
            .values(next_attempt_at=backoff))

    await from_registry(notifications_app, case_change(case_id=case_id, version=2,
                                                        language="es", channels=["sms"]))
    evening = (await reminders(notifications_app, case_id))["evening_before"]
    assert evening.status == ReminderStatus.planned and evening.language == "es"
    assert (evening.due_at, evening.next_attempt_at) == (due, backoff)
    # The other's is as due and unsent when the number says STOP.
    await from_checkin(notifications_app, "contact.opted_out",
                       {"phone_hash": VAULT.lookup_hash("+447911123457"),
                        "case_ids": [str(other)]})
    assert (await reminders(notifications_app, other))["evening_before"].status == "cancelled"

    clock.move_to(backoff)
    await dispatch(notifications_app)
    assert (await reminders(notifications_app, case_id))["evening_before"].status == "sent"
