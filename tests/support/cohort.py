"""A cohort of people with a check-in due now, written straight into a notifications
database: for the two-dispatcher test and ``bench/reminders.py``. Each person has
their own number, so a duplicate send shows up at the Twilio-compatible server."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from notifications.models import Contact, ExpectedCheckin, Reminder
from notifications.segments import encode
from notifications.templates import templates

from shared.crypto import PhoneVault
from shared.db import sync_url, utcnow

CHUNK = 5_000


def phone(index: int) -> str:
    return f"+4477009{index:05d}" if index < 100_000 else f"+447701{index:06d}"


def seed(url: str, *, count: int, due_at: datetime, vault: PhoneVault,
         reminders: bool = True, language: str = "en", start: int = 0) -> None:
    """``count`` active cases, each with one pending window opening at ``due_at`` and,
    if ``reminders``, its "window open" reminder already planned and due. Phone numbers
    are ``phone(start)`` onwards, so a second cohort can have numbers of its own."""
    engine = sa.create_engine(sync_url(url))
    closes = due_at + timedelta(hours=10)
    texts = templates(language)
    london = ZoneInfo("Europe/London")
    body = texts.render("sms", "window_opens", **texts.values(
        opens=due_at.astimezone(london), closes=closes.astimezone(london),
        grace_ends=(closes + timedelta(hours=24)).astimezone(london), number="+447700900000"))
    cost = encode(body)
    now = utcnow()
    try:
        with engine.begin() as conn:
            for first in range(start, start + count, CHUNK):
                contacts, expected, planned = [], [], []
                for index in range(first, min(first + CHUNK, start + count)):
                    case_id, expected_id, number = uuid.uuid4(), uuid.uuid4(), phone(index)
                    contacts.append({
                        "case_id": case_id, "version": 1, "status": "active",
                        "phone_encrypted": vault.encrypt(number),
                        "phone_hash": vault.lookup_hash(number), "language": language,
                        "channels": ["sms"], "timezone": "Europe/London",
                        "programme": "bench", "updated_at": now})
                    expected.append({
                        "id": expected_id, "case_id": case_id, "opens_at": due_at,
                        "closes_at": closes, "grace_ends_at": closes + timedelta(hours=24),
                        "status": "pending"})
                    planned.append({
                        "id": uuid.uuid4(), "case_id": case_id, "expected_checkin_id": expected_id,
                        "kind": "window_opens", "channel": "sms", "language": language,
                        "status": "planned", "due_at": due_at, "next_attempt_at": due_at,
                        "deadline": closes, "attempts": 0, "body": body,
                        "encoding": cost.encoding, "segments": cost.segments, "updated_at": now})
                conn.execute(sa.insert(Contact.__table__), contacts)
                conn.execute(sa.insert(ExpectedCheckin.__table__), expected)
                if reminders:
                    conn.execute(sa.insert(Reminder.__table__), planned)
    finally:
        engine.dispose()
