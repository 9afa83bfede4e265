"""What notifications publishes on its change feed: one model per event type.

The contract: ``data`` is ``model_dump(mode="json")`` of these models, with the keys
these events always had plus ``schema_version`` (1). A consumer parses them with its
own read models; a change to a key is a new ``schema_version``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.enums import Channel, EventType, ReminderKind, ReportedStatus, UndeliverableReason
from notifications.models import ChangeEvent, Reminder
from shared.changefeed import publish_many


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: ClassVar[EventType]
    schema_version: Literal[1] = 1
    reminder_id: uuid.UUID

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ReminderStatusChanged(Event):
    """``reminder.status``: how far a reminder got (sent, delivered, undelivered,
    failed). Checkin notes it on the expected check-in, so a follow-up for a missed one
    can say the person was never told. ``reason`` only when there is one."""

    type = EventType.reminder_status
    case_id: uuid.UUID
    expected_checkin_id: uuid.UUID
    kind: ReminderKind
    channel: Channel
    status: ReportedStatus
    reason: str | None = None

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"reason"} if self.reason is None else None)


class ReminderUndeliverable(Event):
    """``reminder.undeliverable``: the provider refused the person's number (or the
    number opted out at the carrier); checkin opens a follow-up so the caseworker
    agrees another way to reach the person."""

    type = EventType.reminder_undeliverable
    case_id: uuid.UUID
    expected_checkin_id: uuid.UUID
    channel: Channel
    reason: UndeliverableReason
    code: int | None


EVENTS: dict[EventType, type[Event]] = {model.type: model for model in (
    ReminderStatusChanged, ReminderUndeliverable)}
"""Each event type's model: every member of ``EventType`` has one."""


async def publish_events(session: AsyncSession, events: Iterable[Event]) -> None:
    """Append the events in the caller's transaction, in one round trip: they are
    visible exactly when the change they describe commits."""
    rows = [(event.type, event.reminder_id, event.payload()) for event in events]
    if rows:
        await publish_many(session, ChangeEvent, rows)


async def publish_reminder_status(session: AsyncSession, reminders: Iterable[Reminder | Any], *,
                                  status: ReportedStatus, reason: str | None = None) -> None:
    """``reminder.status`` for each of ``reminders`` (rows or claimed reminders)."""
    await publish_events(session, (ReminderStatusChanged(
        reminder_id=r.id, case_id=r.case_id, expected_checkin_id=r.expected_checkin_id,
        kind=r.kind, channel=r.channel, status=status, reason=reason) for r in reminders))


async def publish_undeliverable(session: AsyncSession, reminder: Any, *,
                                reason: UndeliverableReason, code: int | None) -> None:
    await publish_events(session, [ReminderUndeliverable(
        reminder_id=reminder.id, case_id=reminder.case_id,
        expected_checkin_id=reminder.expected_checkin_id, channel=reminder.channel,
        reason=reason, code=code)])
