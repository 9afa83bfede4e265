"""Delivery status: what the provider's status callbacks say happened to a reminder
after it was handed over."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.enums import FINAL, NOT_REACHED, RANK, DeliveryStatus, ReminderStatus, ReportedStatus
from notifications.events import publish_reminder_status
from notifications.models import Reminder
from shared.db import utcnow

log = logging.getLogger("waymark.notifications.delivery")

async def record_delivery(session: AsyncSession, *, provider_id: str, status: str,
                          reminder_id: uuid.UUID | None, error_code: str | None) -> bool:
    """Apply a provider's status callback; returns whether anything changed. The
    reminder is found by the provider's id, or by our id in the callback URL when a
    crash left the provider's id unrecorded. A status outside Twilio's vocabulary
    (one added after this code) is acknowledged and changes nothing: answering an
    error would only make Twilio retry it."""
    try:
        reported = DeliveryStatus(status.lower())
    except ValueError:
        log.info("status callback with a status we do not know: %.32r", status)
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
        reminder.provider_id, reminder.status = provider_id, ReminderStatus.sent
        reminder.sent_at = reminder.sent_at or utcnow()
        changed = True
    current = RANK[DeliveryStatus(reminder.delivery_status)] if reminder.delivery_status else 0
    if RANK[reported] > current:
        reminder.delivery_status = reported
        if reported in NOT_REACHED and error_code:
            reminder.error = f"provider error {error_code}"[:200]
        changed = True
        if RANK[reported] >= FINAL:
            await publish_reminder_status(session, [reminder], status=(
                ReportedStatus.undelivered if reported in NOT_REACHED else ReportedStatus.delivered))
    reminder.updated_at = utcnow()
    return changed
