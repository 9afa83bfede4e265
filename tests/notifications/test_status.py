"""Twilio's delivery status callbacks: signed, idempotent, and safe out of order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notifications.enums import DeliveryStatus, ReminderStatus, ReportedStatus

from tests.notifications.helpers import (
    CASEWORKER,
    FIRST_OPENS,
    add_person,
    dispatch,
    events,
    reminders,
    status_callback,
)


async def _sent(app, clock):
    case_id, _ = await add_person(app)
    clock.move_to(FIRST_OPENS - timedelta(hours=15))
    await dispatch(app, concurrency=1)
    return case_id, (await reminders(app, case_id))["evening_before"]


def message(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32, **extra}


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
    case_id, _ = await add_person(notifications_app, channels=["voice"])
    clock.move_to(FIRST_OPENS - timedelta(hours=15))
    await dispatch(notifications_app, concurrency=1)
    sent = (await reminders(notifications_app, case_id))["evening_before"]
    for status in ("initiated", "ringing", "no-answer", "in-progress"):
        await status_callback(notifications, {"CallSid": sent.provider_id, "CallStatus": status})
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
    empty = await status_callback(notifications, {"MessageStatus": "delivered"})
    assert empty.status_code == 422 and "MessageSid" in empty.text
    unknown = await status_callback(notifications, message("SM" + "9" * 32, "delivered"))
    assert unknown.status_code == 204


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
