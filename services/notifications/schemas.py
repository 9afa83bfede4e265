"""Response models. The notifications service takes no request bodies other than
Twilio's signed form posts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from notifications.enums import Channel, DeliveryStatus, ReminderKind, ReminderStatus


class NotificationRead(BaseModel):
    """One reminder as the caseworker sees it: what was planned, whether and when it went,
    the text as sent and what the network said about delivery. No phone number."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    expected_checkin_id: uuid.UUID
    kind: ReminderKind
    channel: Channel
    language: str
    status: ReminderStatus
    due_at: datetime
    deadline: datetime
    sent_at: datetime | None
    attempts: int
    delivery_status: DeliveryStatus | None
    body: str | None  # null once the case is erased
    encoding: str | None
    segments: int | None
    error: str | None


class NotificationList(BaseModel):
    case_id: uuid.UUID
    items: list[NotificationRead]
