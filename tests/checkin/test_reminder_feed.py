"""What checkin takes from the notifications service: reminder delivery on expected
check-ins, follow-ups for numbers reminders cannot reach, STOP, and the voice
reminder's "press 1 to check in now"."""

from __future__ import annotations

import uuid
from datetime import timedelta

from checkin import feeds
from checkin.enums import FollowUpKind

from shared.changefeed import Change
from tests.checkin.helpers import (
    BEFORE_START,
    FIRST_OPENS,
    PHONE,
    expected,
    follow_ups,
    run_jobs,
    sms,
    twilio_post,
)


async def from_notifications(app, type: str, data: dict) -> None:
    change = Change(cursor="0-0", type=type, subject_id="x", occurred_at=BEFORE_START,
                    data=data)
    async with app.state.sessionmaker() as session, session.begin():
        await feeds.apply_notifications_change(session, change)


async def test_stop_opens_one_follow_up_to_agree_another_channel(checkin_app, checkin, case):
    case_id, _ = case
    for _ in range(2):
        assert (await sms(checkin, "STOP")).status_code == 200
    [opened] = await follow_ups(checkin_app, case_id)
    assert opened.kind == FollowUpKind.opted_out and opened.assigned_to == "alice"
    assert "not non-compliance" in opened.detail
    assert (await sms(checkin, "START")).status_code == 200
    assert len(await follow_ups(checkin_app, case_id)) == 1


async def test_an_unreachable_number_opens_one_follow_up(checkin_app, case):
    case_id, _ = case
    for _ in range(3):
        await from_notifications(checkin_app, "reminder.undeliverable", {
            "case_id": str(case_id), "channel": "sms", "reason": "invalid_number"})
    [opened] = await follow_ups(checkin_app, case_id)
    assert opened.kind == FollowUpKind.contact_unreachable and "cannot receive" in opened.detail
    assert opened.vulnerabilities == ["survivor_of_trafficking"]


async def test_a_missed_check_in_says_whether_any_reminder_reached_the_person(checkin_app, case,
                                                                             clock):
    case_id, _ = case
    first, second = (await expected(checkin_app, case_id))[:2]
    for status in ("failed", "sent", "undelivered"):  # one got through, a later one did not
        await from_notifications(checkin_app, "reminder.status", {
            "expected_checkin_id": str(first.id), "status": status})
    await from_notifications(checkin_app, "reminder.status", {
        "expected_checkin_id": str(second.id), "status": "undelivered"})
    clock.move_to(FIRST_OPENS + timedelta(days=7, hours=35))  # both missed
    await run_jobs(checkin_app)
    details = {f.expected_checkin_id: f.detail for f in await follow_ups(checkin_app, case_id)}
    assert "not delivered" not in details[first.id]
    assert "not delivered (undelivered)" in details[second.id]


async def test_press_1_on_a_voice_reminder_goes_straight_to_the_pin(checkin, case):
    # On our outbound call the person is "To"; "From" is Waymark's own number.
    params = {"CallSid": f"CA{uuid.uuid4().hex}", "AccountSid": "AC" + "0" * 32,
              "From": "+447700900001", "To": PHONE, "Direction": "outbound-api",
              "CallStatus": "in-progress", "Digits": "1"}
    response = await twilio_post(checkin, "/v1/twilio/voice", params)
    assert response.status_code == 200
    assert 'numDigits="6"' in response.text and "/v1/twilio/voice/pin" in response.text
    assert "أهلاً بك في تسجيل الحضور" in response.text  # the person's language, no menu
