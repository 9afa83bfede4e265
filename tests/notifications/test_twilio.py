"""The ``twilio`` provider: the real twilio client against a Twilio-compatible server on
127.0.0.1, with retries, the deadline, permanent failures, a crash between claim and
send, and the rate limit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from notifications.app import dispatcher
from notifications.enums import Channel, Provider, ReminderStatus
from notifications.models import OptOut

from tests.notifications.helpers import (
    FIRST_OPENS,
    PHONE,
    add_person,
    events,
    from_checkin,
    reminders,
)
from tests.support.twilio_server import TwilioServer

EVENING_BEFORE = FIRST_OPENS - timedelta(hours=15)
FROM = "+447700900001"
NO_QUIET_HOURS = {"quiet_start": "00:00", "quiet_end": "00:00"}


@pytest.fixture(scope="module")
def server() -> Iterator[TwilioServer]:
    with TwilioServer() as running:
        yield running


@pytest.fixture
async def app(server, fresh_notifications):
    server.reset()
    async with fresh_notifications(
            WAYMARK_NOTIFY_PROVIDER="twilio", TWILIO_API_BASE=server.url,
            TWILIO_FROM_NUMBER=FROM, TWILIO_ACCOUNT_SID=server.account_sid,
            WAYMARK_NOTIFY_RATE=0, WAYMARK_REMINDER_POLICY=NO_QUIET_HOURS,
            lease_seconds=0.5) as running:
        yield running


def creates(server: TwilioServer, resource: str = "Messages") -> list[dict]:
    return [r for r in server.requests()
            if r["method"] == "POST" and r["path"].endswith(f"/{resource}.json")]


async def test_an_sms_goes_through_the_real_client_with_a_status_callback(app, server, clock):
    case_id, _ = await add_person(app, language="en")
    clock.move_to(EVENING_BEFORE)
    stats = await dispatcher(app).run_once()
    assert stats.sent == 1
    [request] = creates(server)
    sent = (await reminders(app, case_id))["evening_before"]
    assert request["form"]["To"] == PHONE and request["form"]["From"] == FROM
    assert request["form"]["Body"] == sent.body
    assert request["form"]["StatusCallback"] == (
        f"http://127.0.0.1:8003/v1/twilio/status?reminder={sent.id}")
    assert sent.provider_id == request["sid"] and sent.provider == Provider.twilio


async def test_a_voice_reminder_speaks_and_offers_press_1(app, server, clock):
    await add_person(app, language="ar", channels=["voice", "in_person"])
    clock.move_to(EVENING_BEFORE)
    await dispatcher(app).run_once()
    [request] = creates(server, "Calls")
    twiml = request["form"]["Twiml"]
    assert 'language="arb"' in twiml and 'voice="Polly.Zeina"' in twiml
    assert "اضغط 1" in twiml  # "press 1", in Arabic
    assert '<Gather action="http://127.0.0.1:8002/v1/twilio/voice"' in twiml
    assert 'input="dtmf"' in twiml and 'numDigits="1"' in twiml
    assert "<Record" not in twiml and "speech" not in twiml
    assert request["form"]["StatusCallbackEvent"] == ["initiated", "ringing", "answered",
                                                      "completed"]


@pytest.mark.parametrize("status", [429, 500])
async def test_transient_failures_retry_later_with_backoff(app, server, clock, status):
    case_id, _ = await add_person(app)
    clock.move_to(EVENING_BEFORE)
    server.fail(status=status)
    stats = await dispatcher(app).run_once()
    assert (stats.sent, stats.retried) == (0, 1)
    row = (await reminders(app, case_id))["evening_before"]
    assert row.status == ReminderStatus.planned and row.attempts == 1
    assert timedelta(seconds=15) <= row.next_attempt_at - EVENING_BEFORE <= timedelta(seconds=30)
    assert (await dispatcher(app).run_once()).claimed == 0  # not before its time
    clock.shift(timedelta(seconds=31))
    assert (await dispatcher(app).run_once()).sent == 1
    assert len(creates(server)) == 2 and server.stats()["created"] == 1


async def test_retries_stop_at_the_deadline_and_nothing_goes_late(app, server, clock):
    case_id, _ = await add_person(app)
    server.fail(status=500, times=1000)
    clock.move_to(EVENING_BEFORE)
    deadline = (await reminders(app, case_id))["evening_before"].deadline
    for _ in range(40):
        await dispatcher(app).run_once()
        clock.shift(timedelta(minutes=10))
    row = (await reminders(app, case_id))["evening_before"]
    assert row.status == ReminderStatus.failed and row.sent_at is None
    assert "deadline" in row.error
    assert 5 <= row.attempts <= 30  # every 15 minutes at most once backed off
    # "Your check-in is tomorrow" is only true until midnight.
    assert deadline == FIRST_OPENS - timedelta(hours=9)
    assert all(r["time"] for r in creates(server))


async def test_an_invalid_number_fails_and_asks_the_caseworker_once(app, server, clock):
    case_id, _ = await add_person(app)
    server.fail(status=400, code=21211, times=10)
    clock.move_to(EVENING_BEFORE)
    await dispatcher(app).run_once()
    row = (await reminders(app, case_id))["evening_before"]
    assert row.status == ReminderStatus.failed and "21211" in row.error
    [asked] = await events(app, "reminder.undeliverable")
    assert asked.data["case_id"] == str(case_id) and asked.data["reason"] == "invalid_number"
    # Checkin opened the follow-up; the next failure does not ask again.
    await from_checkin(app, "follow_up.opened", {
        "id": str(uuid.uuid4()), "case_id": str(case_id), "kind": "contact_unreachable",
        "status": "open"})
    clock.move_to(FIRST_OPENS)
    await dispatcher(app).run_once()
    assert (await reminders(app, case_id))["window_opens"].status == ReminderStatus.failed
    assert len(await events(app, "reminder.undeliverable")) == 1


async def test_a_carrier_opt_out_counts_as_stop(app, server, clock):
    case_id, _ = await add_person(app, channels=["sms", "voice"])
    server.fail(status=400, code=21610)
    clock.move_to(EVENING_BEFORE)
    await dispatcher(app).run_once()
    async with app.state.sessionmaker() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(OptOut)) == 1
    planned = await reminders(app, case_id)
    assert planned["evening_before"].status == ReminderStatus.failed
    assert planned["window_opens"].channel == Channel.voice


async def _due_now(app, count: int = 1) -> list[uuid.UUID]:
    """People whose window opens in a moment, on the real clock (the server's). The
    moment leaves room for a loaded machine: a reminder whose time has already passed
    when it is planned is not planned at all, and the test would find nothing due."""
    opens = datetime.now(UTC) + timedelta(seconds=1.5 + 0.1 * count)
    ids = []
    for index in range(count):
        case_id, _ = await add_person(app, opens=opens, phone=f"+4479111{index:05d}")
        ids.append(case_id)
    await asyncio.sleep(max(0.0, (opens - datetime.now(UTC)).total_seconds()) + 0.05)
    return ids


async def test_a_crash_after_the_claim_and_before_the_send_loses_nothing(app, server):
    [case_id] = await _due_now(app)
    claimed, _ = await dispatcher(app).claim(datetime.now(UTC))
    assert len(claimed) == 1  # ...and the dispatcher dies here
    await asyncio.sleep(0.6)  # the lease runs out
    stats = await dispatcher(app).run_once()
    assert stats.reconciled == 1 and stats.sent == 1
    row = (await reminders(app, case_id))["window_opens"]
    assert row.status == ReminderStatus.sent and row.attempts == 2
    assert server.stats()["created"] == 1


async def test_a_crash_after_the_send_and_before_its_record_repeats_nothing(app, server):
    [case_id] = await _due_now(app)
    worker = dispatcher(app)
    [item], _ = await worker.claim(datetime.now(UTC))
    sid = await worker.provider.send(item.message, status_callback="http://x/")  # then dies
    await asyncio.sleep(0.6)
    stats = await dispatcher(app).run_once()
    assert (stats.reconciled, stats.sent) == (1, 0)
    row = (await reminders(app, case_id))["window_opens"]
    assert (row.status, row.provider_id) == (ReminderStatus.sent, sid)
    assert server.stats()["created"] == 1


async def test_the_rate_limit_is_never_exceeded(server, fresh_notifications):
    server.reset()
    async with fresh_notifications(
            WAYMARK_NOTIFY_PROVIDER="twilio", TWILIO_API_BASE=server.url,
            TWILIO_ACCOUNT_SID=server.account_sid, WAYMARK_NOTIFY_RATE=10,
            WAYMARK_REMINDER_POLICY=NO_QUIET_HOURS) as app:
        await _due_now(app, count=25)
        total = await dispatcher(app).drain()
    assert total.sent == 25
    stats = server.stats()
    assert stats["created"] == 25 and stats["duplicates"] == 0
    assert stats["max_per_second"] <= 10
    assert stats["last"] - stats["first"] >= 2.3  # 25 at 10/s: paced, not bunched


async def test_no_phone_number_reaches_the_logs(app, server, clock, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        await add_person(app, channels=["sms", "voice"])
        await add_person(app, phone="+447911123499")
        server.fail(status=500)
        server.fail(status=400, code=21211, to="+447911123499")
        clock.move_to(EVENING_BEFORE)
        for _ in range(3):
            await dispatcher(app).tick()
            clock.shift(timedelta(minutes=2))
    assert server.stats()["created"] >= 1 and caplog.records
    for number in (PHONE, "+447911123499", PHONE[1:], "7911123456"):
        assert number not in caplog.text


async def test_the_scheduler_ticks_the_dispatcher(server, fresh_notifications):
    server.reset()
    async with fresh_notifications(
            WAYMARK_NOTIFY_PROVIDER="twilio", TWILIO_API_BASE=server.url,
            TWILIO_ACCOUNT_SID=server.account_sid, WAYMARK_DISPATCH_SECONDS=0.2,
            WAYMARK_REMINDER_POLICY=NO_QUIET_HOURS) as app:
        [case_id] = await _due_now(app)
        for _ in range(50):  # nobody calls the dispatcher: APScheduler does
            if (await reminders(app, case_id))["window_opens"].status == ReminderStatus.sent:
                break
            await asyncio.sleep(0.1)
        assert (await reminders(app, case_id))["window_opens"].status == ReminderStatus.sent
    assert server.stats()["created"] == 1
