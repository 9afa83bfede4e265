"""What notifications publishes on its change feed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from notifications.enums import EventType, ReportedStatus, UndeliverableReason
from notifications.models import ChangeEvent, Reminder
from shared.changefeed import publish_many


async def publish_reminder_status(session: AsyncSession, reminders: Iterable[Reminder | Any], *,
                                  status: ReportedStatus | None = None,
                                  reason: str | None = None) -> None:
    """``reminder.status`` events: checkin notes them on the expected check-in, so a
    follow-up for a missed one can say the person was never told."""
    events = [(EventType.reminder_status, r.id, {
        "reminder_id": str(r.id), "case_id": str(r.case_id),
        "expected_checkin_id": str(r.expected_checkin_id), "kind": r.kind, "channel": r.channel,
        "status": status or r.status, **({"reason": reason} if reason else {})})
        for r in reminders]
    if events:
        await publish_many(session, ChangeEvent, events)


async def publish_undeliverable(session: AsyncSession, reminder: Any, *, reason: UndeliverableReason,
                                code: int | None) -> None:
    """``reminder.undeliverable``: checkin opens a follow-up so the caseworker agrees
    another way to reach the person."""
    await publish_many(session, ChangeEvent, [(EventType.reminder_undeliverable, reminder.id, {
        "reminder_id": str(reminder.id), "case_id": str(reminder.case_id),
        "expected_checkin_id": str(reminder.expected_checkin_id), "channel": reminder.channel,
        "reason": reason, "code": code})])
