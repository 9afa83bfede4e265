"""Erasure in notifications: what it holds about a person goes when the registry's feed
says ``case.erased``.

What goes: the contact's number (ciphertext) and its lookup hash; the text of every
reminder of the case and of every message the ``log`` provider kept for them, and
the reminders' error texts; the opt-out of the number (keyed by its hash). Reminders
still planned are cancelled. What stays: the reminders' rows without text (kind,
channel, status, when, delivery), so the record of what was sent stays true; the
contact's language, channels, time zone, programme and caseload.

A number another live contact shares (a family phone) is also theirs: while a contact
not erased holds it, its opt-out stays (STOP was said from that phone, and the other
person's reminders must still honour it).

Idempotent and safe out of order: applied again, late, after the service was down, or
for a case notifications never saw, it erases what there is and nothing more, and
never makes a contact."""

from __future__ import annotations

import uuid
from functools import partial

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.enums import AuditAction, ReminderStatus
from notifications.models import (
    AuditEntry,
    AuditHead,
    Contact,
    LoggedMessage,
    OptOut,
    Reminder,
)
from shared.audit import AuditTables, append
from shared.auth import Role
from shared.db import after_commit, reclaim, utcnow

# Who erases here: the registry's feed, read by this service.
FEED_ACTOR = "registry-feed"

# Every table an erasure writes to: reclaimed after the commit (``shared.db.reclaim``).
TABLES = ("contacts", "reminders", "logged_messages", "opt_outs")


async def erase_case(session: AsyncSession, *, case_id: uuid.UUID, version: int,
                     status: str) -> None:
    """Erase what notifications holds about the person of ``case_id`` (see the module
    docstring), in the caller's transaction."""
    now = utcnow()
    contact = await session.get(Contact, case_id, with_for_update=True)
    phone_hash = None
    first = contact is not None and contact.erased_at is None
    if contact is not None:
        phone_hash = contact.phone_hash
        if contact.version < version:
            contact.version, contact.status = version, status
        contact.phone_encrypted = contact.phone_hash = None
        contact.erased_at = contact.erased_at or now
        contact.updated_at = now
        await session.flush()
    await session.execute(
        sa.update(Reminder).where(Reminder.case_id == case_id,
                                  Reminder.status == ReminderStatus.planned)
        .values(status=ReminderStatus.cancelled, updated_at=now)
        .execution_options(synchronize_session=False))
    await session.execute(
        sa.update(Reminder).where(Reminder.case_id == case_id).values(body=None, error=None)
        .execution_options(synchronize_session=False))
    await session.execute(
        sa.update(LoggedMessage).where(LoggedMessage.reminder_id.in_(
            sa.select(Reminder.id).where(Reminder.case_id == case_id))).values(body=None)
        .execution_options(synchronize_session=False))
    if phone_hash is not None:
        shared = await session.scalar(sa.select(sa.func.count()).select_from(Contact).where(
            Contact.phone_hash == phone_hash, Contact.case_id != case_id,
            Contact.erased_at.is_(None)))
        if not shared:
            await session.execute(sa.delete(OptOut).where(OptOut.phone_hash == phone_hash))
    if first:  # the trail shows when this service's copy went, as the registry's does
        await append(session, AuditTables(entry=AuditEntry, head=AuditHead),
                     actor=FEED_ACTOR, role=Role.service, action=AuditAction.case_erased,
                     case_ids=[case_id])
    after_commit(session, partial(reclaim, session.bind, TABLES), key="reclaim")
