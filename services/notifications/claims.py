"""Claiming due reminders from the outbox: the claim commits ``sending`` with a lease
before anything is sent, so a row another dispatcher holds is skipped (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time and the claim is a
conditional UPDATE), and each claimed row is checked to be still wanted."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.enums import (
    CaseStatus,
    Channel,
    CheckinOutcome,
    ContactChannel,
    ReminderKind,
    ReminderStatus,
)
from notifications.models import Contact, ExpectedCheckin, OptOut, Reminder
from notifications.providers import Outgoing
from notifications.templates import templates
from shared.crypto import PhoneVault

REMINDERS = Reminder.__table__
CLAIM_COLUMNS = (REMINDERS.c.id, REMINDERS.c.case_id, REMINDERS.c.expected_checkin_id,
                 REMINDERS.c.kind, REMINDERS.c.channel, REMINDERS.c.language, REMINDERS.c.body,
                 REMINDERS.c.deadline, REMINDERS.c.attempts)


@dataclass
class Claimed:
    """A claimed reminder, with what it takes to send it."""

    id: uuid.UUID
    case_id: uuid.UUID
    expected_checkin_id: uuid.UUID
    kind: ReminderKind
    channel: Channel
    attempts: int
    deadline: datetime
    phone_hash: str
    message: Outgoing
    slot: float = 0.0  # wall-clock time before which it must not be sent


async def claim_due(session: AsyncSession, *, now: datetime, limit: int, lease_until: datetime,
                    vault: PhoneVault) -> tuple[list[Claimed], int]:
    """Claim up to ``limit`` due reminders in the caller's transaction (committed before
    any is sent); returns them and how many turned out to be no longer wanted (those
    are cancelled)."""
    due = (sa.select(REMINDERS.c.id)
           .where(REMINDERS.c.status == ReminderStatus.planned, REMINDERS.c.next_attempt_at <= now)
           .order_by(REMINDERS.c.next_attempt_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = (await session.execute(
        sa.update(REMINDERS)
        .where(REMINDERS.c.id.in_(due.scalar_subquery()), REMINDERS.c.status == ReminderStatus.planned)
        .values(status=ReminderStatus.sending, attempts=REMINDERS.c.attempts + 1, claimed_at=now,
                lease_until=lease_until, updated_at=now)
        .returning(*CLAIM_COLUMNS))).all()
    if not rows:
        return [], 0
    claimed, unwanted = await prepare(session, rows, vault=vault)
    if unwanted:
        await session.execute(
            sa.update(REMINDERS).where(REMINDERS.c.id == sa.bindparam("rid"))
            .values(status=ReminderStatus.cancelled, error=sa.bindparam("reason"), lease_until=None,
                    updated_at=now),
            [{"rid": rid, "reason": reason} for rid, reason in unwanted.items()])
    return claimed, len(unwanted)


async def prepare(session: AsyncSession, rows: Sequence[Any], *, vault: PhoneVault,
                  check: bool = True) -> tuple[list[Claimed], dict[uuid.UUID, str]]:
    """Turn claimed rows into messages, checking (unless ``check`` is off) each is still
    wanted now: the case active, the check-in still pending, the number not opted out of
    SMS. Returns the messages and the unwanted rows' reasons."""
    case_ids = {row.case_id for row in rows}
    contacts = {c.case_id: c for c in (await session.execute(
        sa.select(Contact).where(Contact.case_id.in_(case_ids)))).scalars()}
    pending = set((await session.execute(
        sa.select(ExpectedCheckin.id).where(
            ExpectedCheckin.id.in_({row.expected_checkin_id for row in rows}),
            ExpectedCheckin.status == CheckinOutcome.pending))).scalars())
    opted_out = set((await session.execute(
        sa.select(OptOut.phone_hash).where(
            OptOut.phone_hash.in_({c.phone_hash for c in contacts.values()})))).scalars())
    claimed: list[Claimed] = []
    unwanted: dict[uuid.UUID, str] = {}
    for row in rows:
        contact = contacts.get(row.case_id)
        if check:
            reason = (
                "case not active" if contact is None or contact.status != CaseStatus.active else
                "check-in no longer pending" if row.expected_checkin_id not in pending else
                "opted out of SMS" if row.channel == Channel.sms and contact.phone_hash in opted_out
                else None)
            if reason:
                unwanted[row.id] = reason
                continue
        if contact is None or contact.phone_encrypted is None:  # erased: nobody to reach
            continue
        texts = templates(row.language)
        claimed.append(Claimed(
            id=row.id, case_id=row.case_id, expected_checkin_id=row.expected_checkin_id,
            kind=row.kind, channel=row.channel, attempts=row.attempts, deadline=row.deadline,
            phone_hash=contact.phone_hash,
            message=Outgoing(reminder_id=row.id, channel=row.channel,
                             to=vault.decrypt(contact.phone_encrypted), body=row.body,
                             voice=texts.voice, voice_language=texts.voice_language,
                             press_one=texts.press_one if ContactChannel.voice in contact.channels
                             else None)))
    return claimed, unwanted
