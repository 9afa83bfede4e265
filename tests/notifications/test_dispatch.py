"""The dispatcher with the default ``log`` provider: due reminders go once, at their
time, never after their deadline, never to a number that said STOP."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from notifications.app import dispatcher
from notifications.enums import Provider, ReminderStatus, ReportedStatus
from notifications.models import LoggedMessage, SendPace

from shared.db import utcnow
from tests.checkin.helpers import VAULT
from tests.notifications.helpers import (
    FIRST_OPENS,
    PHONE,
    add_person,
    dispatch,
    events,
    from_checkin,
    reminders,
    window,
)

EVENING_BEFORE = FIRST_OPENS - timedelta(hours=15)


async def test_nothing_goes_before_it_is_due(notifications_app, clock):
    await add_person(notifications_app)
    stats = await dispatch(notifications_app, concurrency=1)
    assert stats.claimed == 0


async def test_a_due_reminder_is_logged_masked_kept_and_announced(notifications_app, clock,
                                                                   caplog):
    case_id, expected_id = await add_person(notifications_app, language="en")
    clock.move_to(EVENING_BEFORE)
    with caplog.at_level(logging.DEBUG):
        stats = await dispatch(notifications_app, concurrency=1)
    assert (stats.claimed, stats.sent) == (1, 1)
    sent = (await reminders(notifications_app, case_id))["evening_before"]
    assert (sent.status, sent.provider) == (ReminderStatus.sent, Provider.log)
    assert sent.provider_id.startswith("LOG")
    assert sent.sent_at == EVENING_BEFORE and sent.attempts == 1
    assert PHONE not in caplog.text and "56" in caplog.text  # masked: last two digits
    assert "your check-in is tomorrow" in caplog.text
    async with notifications_app.state.sessionmaker() as session:
        kept = (await session.execute(sa.select(LoggedMessage).where(
            LoggedMessage.reminder_id == sent.id))).scalar_one()
    assert kept.body == sent.body
    [event] = await events(notifications_app, "reminder.status")
    assert event.data["status"] == ReportedStatus.sent
    assert event.data["expected_checkin_id"] == expected_id
    # Running again sends nothing more.
    assert (await dispatch(notifications_app, concurrency=1)).claimed == 0


async def test_a_reminder_past_its_deadline_is_failed_not_sent_late(notifications_app, clock):
    case_id, _ = await add_person(notifications_app)
    clock.move_to(FIRST_OPENS + timedelta(minutes=1))  # the evening before is over
    stats = await dispatch(notifications_app, concurrency=1)
    planned = await reminders(notifications_app, case_id)
    assert planned["evening_before"].status == ReminderStatus.failed
    assert planned["evening_before"].sent_at is None
    assert planned["window_opens"].status == ReminderStatus.sent
    assert (stats.sent, stats.failed) == (1, 1)


async def test_the_nudge_only_goes_if_still_pending(notifications_app, clock):
    case_id, expected_id = await add_person(notifications_app)
    clock.move_to(FIRST_OPENS + timedelta(hours=32))  # the nudge is due
    # The check-in is attended; the dispatcher hears it before the feed's cancel lands.
    await from_checkin(notifications_app, "expected_checkin.planned",
                       window(case_id, id=uuid.UUID(expected_id), status="late"))
    await dispatch(notifications_app, concurrency=1)
    nudge = (await reminders(notifications_app, case_id))["nudge"]
    assert nudge.status == ReminderStatus.cancelled and nudge.sent_at is None


async def test_stop_then_start(notifications_app, clock):
    case_id, _ = await add_person(notifications_app, channels=["sms", "in_person"])
    opted = {"phone_hash": VAULT.lookup_hash(PHONE), "case_ids": [str(case_id)]}
    await from_checkin(notifications_app, "contact.opted_out", opted)
    clock.move_to(EVENING_BEFORE)
    assert (await dispatch(notifications_app, concurrency=1)).sent == 0
    clock.shift(timedelta(minutes=1))  # START after the evening reminder's moment passed
    await from_checkin(notifications_app, "contact.opted_in", opted)
    clock.move_to(FIRST_OPENS)
    assert (await dispatch(notifications_app, concurrency=1)).sent == 1
    planned = await reminders(notifications_app, case_id)
    assert planned["window_opens"].status == ReminderStatus.sent
    assert planned["evening_before"].status == ReminderStatus.cancelled


async def test_a_lease_outlasts_the_send_slot_behind_other_dispatchers_reservations(
        notifications_app, clock):
    """Slots follow every slot reserved before (say by a dispatcher that died): the lease
    runs from the reminder's own slot, or reconciliation could queue it again while it
    still waits its turn here, and it would be sent twice."""
    case_id, _ = await add_person(notifications_app)
    clock.move_to(EVENING_BEFORE)
    backlog = timedelta(seconds=30)
    async with notifications_app.state.sessionmaker() as session, session.begin():
        session.add(SendPace(name="outbound", next_free_at=utcnow() + backlog))
    worker = dispatcher(notifications_app)
    worker.policy = replace(worker.policy, rate=10.0, lease=timedelta(seconds=5))
    [claimed], _ = await worker.claim(utcnow())
    assert claimed.slot >= (utcnow() + backlog).timestamp()
    lease_until = (await reminders(notifications_app, case_id))["evening_before"].lease_until
    assert lease_until.timestamp() >= claimed.slot + 5
