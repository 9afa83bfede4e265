"""Delivery status: what the provider's status callbacks say happened to a reminder
after it was handed over."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.events import publish_reminder_status
from notifications.models import Reminder
from shared.db import utcnow

# A status only moves forward, so a late or repeated callback never undoes a later one.
STATUS_RANK: dict[str, int] = {
    "accepted": 1, "scheduled": 1, "queued": 1, "initiated": 2, "sending": 2, "ringing": 3,
    "sent": 3, "in-progress": 4, "answered": 4,
    "delivered": 5, "undelivered": 5, "failed": 5, "read": 6,
    "completed": 5, "busy": 5, "no-answer": 5, "canceled": 5,
}
NOT_REACHED = frozenset({"undelivered", "failed", "busy", "no-answer", "canceled"})


async def record_delivery(session: AsyncSession, *, provider_id: str, status: str,
                          reminder_id: uuid.UUID | None, error_code: str | None) -> bool:
    """Apply a provider's status callback; returns whether anything changed. The
    reminder is found by the provider's id, or by our id in the callback URL when a
    crash left the provider's id unrecorded."""
    status = status.lower()
    if status not in STATUS_RANK:
        return False
    reminder = (await session.execute(
        sa.select(Reminder).where(Reminder.provider_id == provider_id).with_for_update()
    )).scalar_one_or_none()
    if reminder is None and reminder_id is not None:
        reminder = await session.get(Reminder, reminder_id, with_for_update=True)
        if reminder is not None and reminder.provider_id not in (None, provider_id):
            return False  # the id in the URL belongs to another message
    if reminder is None:
        return False
    changed = False
    if reminder.provider_id is None:  # the callback beat our own record of the send
        reminder.provider_id, reminder.status = provider_id, "sent"
        reminder.sent_at = reminder.sent_at or utcnow()
        changed = True
    current = STATUS_RANK.get(reminder.delivery_status or "", 0)
    if STATUS_RANK[status] > current:
        reminder.delivery_status = status
        if status in NOT_REACHED and error_code:
            reminder.error = f"provider error {error_code}"[:200]
        changed = True
        if STATUS_RANK[status] >= 5:  # final: checkin hears "delivered" or "undelivered"
            await publish_reminder_status(
                session, [reminder], status="undelivered" if status in NOT_REACHED else "delivered")
    reminder.updated_at = utcnow()
    return changed
