"""The caseworker's list of a case's reminders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.models import Contact, Reminder
from shared.errors import NotFound


async def list_notifications(session: AsyncSession, *, case_id: uuid.UUID,
                             limit: int) -> Sequence[Reminder]:
    """A case's reminders, newest plan first. 404 for a case this service has never
    heard of."""
    if await session.get(Contact, case_id) is None:  # reminders are only planned for contacts
        raise NotFound("No such case.")
    return (await session.execute(
        sa.select(Reminder).where(Reminder.case_id == case_id)
        .order_by(Reminder.due_at.desc(), Reminder.kind).limit(limit))).scalars().all()
