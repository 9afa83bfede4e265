"""Twilio's delivery status callbacks: signed, idempotent, and safe out of order."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from notifications.enums import DeliveryStatus, ReminderStatus, ReportedStatus
from notifications.models import Reminder

from tests.notifications.helpers import (
    CASEWORKER,
    FIRST_OPENS,
    add_person,
    dispatch,
    events,
    reminders,
    status_callback,
)

ACCOUNT = "AC" + "0" * 32  # the development account, notifications' default


async def _sent(app, clock, *, prefix: str = "SM", **case):
    """The evening-before reminder, sent, with a sid of Twilio's shape (the log
    provider's own ids are not Twilio's, and Twilio calls back only with its own)."""
    case_id, _ = await add_person(app, **case)
    clock.move_to(FIRST_OPENS - timedelta(hours=15))
    await dispatch(app, concurrency=1)
    sent = (await reminders(app, case_id))["evening_before"]
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(sa.update(Reminder).where(Reminder.id == sent.id).values(
            provider_id=f"{prefix}{uuid.uuid4().hex}"))
    return case_id, (await reminders(app, case_id))["evening_before"]


def message(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT, **extra}


async def test_a_late_sent_never_overwrites_delivered(notifications_app, notifications, clock):
    case_id, sent = await _sent(notifications_app, clock)
    for status in ("delivered", "sent", "queued", "delivered"):
        response = await status_callback(notifications, message(sent.provider_id, status),
                                         reminder=sent.id)
        assert response.status_code == 204
    assert (await reminders(notifications_app, case_id))["evening_before"].delivery_status == (
        DeliveryStatus.delivered)
    final = [e.data["status"] for e in await events(notifications_app, "reminder.status")]
    assert final == [ReportedStatus.sent, ReportedStatus.delivered]  # once each, however many callbacks
    listed = await notifications.get(f"/v1/cases/{case_id}/notifications", headers=CASEWORKER)
    [item] = [i for i in listed.json()["items"] if i["kind"] == "evening_before"]
    assert (item["status"], item["delivery_status"]) == (ReminderStatus.sent, DeliveryStatus.delivered)


async def test_undelivered_is_kept_with_its_error_and_told_to_checkin(notifications_app,
                                                                      notifications, clock):
    case_id, sent = await _sent(notifications_app, clock)
    await status_callback(notifications, message(sent.provider_id, "sent"))
    await status_callback(notifications, message(sent.provider_id, "undelivered",
                                                 ErrorCode="30005"))
    row = (await reminders(notifications_app, case_id))["evening_before"]
    assert (row.delivery_status, row.error) == (DeliveryStatus.undelivered, "provider error 30005")
    [*_, last] = await events(notifications_app, "reminder.status")
    assert last.data["status"] == ReportedStatus.undelivered


async def test_a_callback_can_settle_a_send_we_did_not_record(notifications_app, notifications,
                                                              clock):
    case_id, _ = await add_person(notifications_app)
    row = (await reminders(notifications_app, case_id))["window_opens"]
    response = await status_callback(notifications, message("SM" + "1" * 32, "delivered"),
                                     reminder=row.id)
    assert response.status_code == 204
    row = (await reminders(notifications_app, case_id))["window_opens"]
    assert (row.status, row.provider_id, row.delivery_status) == (
        ReminderStatus.sent, "SM" + "1" * 32, DeliveryStatus.delivered)
    # The dispatcher never sends it again.
    clock.move_to(FIRST_OPENS)
    assert (await dispatch(notifications_app, concurrency=1)).sent == 0


async def test_call_statuses(notifications_app, notifications, clock):
    case_id, sent = await _sent(notifications_app, clock, prefix="CA", channels=["voice"])
    for status in ("initiated", "ringing", "no-answer", "in-progress"):
        response = await status_callback(notifications, {
            "CallSid": sent.provider_id, "CallStatus": status, "AccountSid": ACCOUNT})
        assert response.status_code == 204
    row = (await reminders(notifications_app, case_id))["evening_before"]
    assert row.delivery_status == DeliveryStatus.no_answer
    [*_, last] = await events(notifications_app, "reminder.status")
    assert last.data["status"] == ReportedStatus.undelivered


async def test_unsigned_or_malformed_callbacks_are_refused(notifications_app, notifications, clock):
    _, sent = await _sent(notifications_app, clock)
    forged = await notifications.post("/v1/twilio/status",
                                      data=message(sent.provider_id, "delivered"))
    assert forged.status_code == 403
    wrong = await status_callback(notifications, message(sent.provider_id, "delivered"),
                                  token="not-the-token")
    assert wrong.status_code == 403
    empty = await status_callback(notifications, {"MessageStatus": "delivered",
                                                  "AccountSid": ACCOUNT})
    assert empty.status_code == 403
    unknown = await status_callback(notifications, message("SM" + "9" * 32, "delivered"))
    assert unknown.status_code == 204


async def test_a_sid_with_a_neighbouring_field_moved_into_it_is_refused(
        notifications_app, notifications, clock):
    """Twilio signs the sorted pairs run together: ``MessageSid=<sid>``,
    ``MessageStatus=sent`` signs like ``MessageSid=<sid>MessageStatussent`` alone. Only a
    sid of Twilio's exact shape passes, so the moved text is refused before any work."""
    case_id, sent = await _sent(notifications_app, clock)
    moved = {"MessageSid": sent.provider_id + "MessageStatusdelivered", "AccountSid": ACCOUNT,
             "CallStatus": "delivered"}
    assert (await status_callback(notifications, moved)).status_code == 403
    row = (await reminders(notifications_app, case_id))["evening_before"]
    assert row.delivery_status is None


@pytest.mark.parametrize("fields", [
    {"MessageSid": "SM" + "A" * 32}, {"MessageSid": "MG" + "0" * 32},
    {"MessageSid": "CA" + "0" * 32}, {"CallSid": "SM" + "0" * 32},
    {"MessageSid": "SM" + "0" * 31}, {"AccountSid": "AC" + "1" * 32},
    {"AccountSid": ""}, {"SmsSid": "SM" + "0" * 32 + "x"}])
async def test_a_sid_not_of_twilios_shape_or_another_account_is_403(
        notifications_app, notifications, clock, fields):
    case_id, sent = await _sent(notifications_app, clock)
    params = {**message(sent.provider_id, "delivered"), **fields}
    if "CallSid" in fields:
        del params["MessageSid"]
    response = await status_callback(notifications, params, reminder=sent.id)
    assert response.status_code == 403
    row = (await reminders(notifications_app, case_id))["evening_before"]
    assert row.delivery_status is None


@pytest.mark.parametrize("status", ["partially_delivered", "made-up", "DÉLIVRÉ", "x" * 5000,
                                    "\x00", "deliv\x00ered"])
async def test_a_status_outside_twilios_vocabulary_is_acknowledged_and_changes_nothing(
        notifications_app, notifications, clock, status):
    case_id, sent = await _sent(notifications_app, clock)
    response = await status_callback(notifications, message(sent.provider_id, status),
                                     reminder=sent.id)
    assert response.status_code == 204
    row = (await reminders(notifications_app, case_id))["evening_before"]
    assert (row.status, row.delivery_status) == (ReminderStatus.sent, None)
    assert [e.data["status"] for e in await events(notifications_app, "reminder.status")] == [
        ReportedStatus.sent]


async def test_a_status_in_capitals_counts(notifications_app, notifications, clock):
    case_id, sent = await _sent(notifications_app, clock)
    await status_callback(notifications, message(sent.provider_id, "DELIVERED"))
    row = (await reminders(notifications_app, case_id))["evening_before"]
    assert row.delivery_status == DeliveryStatus.delivered
