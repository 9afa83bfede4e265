"""Notifications tables, on the notifications service's own metadata."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from notifications.enums import (
    AuditAction,
    Channel,
    DeliveryStatus,
    EventType,
    Provider,
    ReminderKind,
    ReminderStatus,
)
from shared.audit import AuditEntryBase, AuditHeadBase, audit_indexes
from shared.auth import Role
from shared.changefeed import ChangeEventBase, FeedCursorBase, event_order_index
from shared.db import UTCDateTime, new_metadata, one_of, utcnow, vocabulary


class NotificationsModel(SQLModel):
    metadata = new_metadata()


class Contact(NotificationsModel, table=True):
    """How to reach the person of a case, copied from the registry's change feed: the
    number as the registry encrypted it (decrypted only to send), its lookup hash (to
    honour STOP), language, channels, status, time zone and programme. No name. Once
    the registry erases the case (``notifications.erasure``) the number and its hash
    are NULL and ``erased_at`` says when."""

    __tablename__ = "contacts"

    case_id: uuid.UUID = Field(primary_key=True)
    version: int
    status: str = Field(max_length=16)
    phone_encrypted: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    phone_hash: str | None = Field(default=None, max_length=64, index=True, nullable=True)
    language: str = Field(max_length=8)
    channels: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    timezone: str = Field(max_length=64)
    programme: str = Field(max_length=64)
    # Whose caseload the case is in (``notifications.caseloads``): the assigned
    # caseworker and the delegations running when the event was written, as
    # ``[{"to": sub, "until": "YYYY-MM-DD"}]``. NULL until the registry's next event.
    caseworker: str | None = Field(default=None, max_length=128)
    delegations: list[dict[str, str]] = Field(default_factory=list, sa_type=sa.JSON)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OptOut(NotificationsModel, table=True):
    """A number that answered STOP: no SMS goes to it until it answers START."""

    __tablename__ = "opt_outs"

    phone_hash: str = Field(primary_key=True, max_length=64)
    opted_out_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExpectedCheckin(NotificationsModel, table=True):
    """An expected check-in and its outcome, copied from the checkin service's feed."""

    __tablename__ = "expected_checkins"

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(index=True)
    opens_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    grace_ends_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=16)


class FollowUpCopy(NotificationsModel, table=True):
    """Follow-ups from the checkin service's feed: enough to not ask a caseworker twice
    about the same unreachable number while they are already on it."""

    __tablename__ = "follow_ups"

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(index=True)
    kind: str = Field(max_length=32)
    status: str = Field(max_length=16)


class Reminder(NotificationsModel, table=True):
    """One planned reminder, and the outbox row the dispatcher sends it from.

    ``status``: planned → sending → sent, or cancelled (the check-in it was for was
    attended, excused or withdrawn), or failed (a permanent provider error, or the
    deadline passed before it could go). ``sending`` is written and committed before
    the provider is called, and ``sent`` with the provider's id after, so a crash in
    between is visible and reconciled with the provider (see ``dispatch``)."""

    __tablename__ = "reminders"
    __table_args__ = (
        sa.UniqueConstraint("expected_checkin_id", "kind"),
        # The dispatcher's queue: due rows in order.
        sa.Index("ix_reminders_queue", "status", "next_attempt_at"),
        one_of("kind", ReminderKind), one_of("channel", Channel),
        one_of("status", ReminderStatus), one_of("provider", Provider),
        one_of("delivery_status", DeliveryStatus),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(index=True)
    expected_checkin_id: uuid.UUID
    kind: ReminderKind = Field(sa_type=vocabulary(16))
    channel: Channel = Field(sa_type=vocabulary(8))
    language: str = Field(max_length=8)
    status: ReminderStatus = Field(default=ReminderStatus.planned, sa_type=vocabulary(16))
    # When it is planned for, the next attempt, and the moment after which it is not
    # worth sending (the window it announces has passed, or quiet hours begin).
    due_at: datetime = Field(sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    deadline: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    # The text as rendered (and sent), and what it costs as SMS; NULL once the case is
    # erased (the row stays: when, how and whether a reminder went).
    body: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    encoding: str | None = Field(default=None, max_length=8)
    segments: int | None = None
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider: Provider | None = Field(default=None, sa_type=vocabulary(16))
    provider_id: str | None = Field(default=None, max_length=64, unique=True)
    delivery_status: DeliveryStatus | None = Field(default=None, sa_type=vocabulary(16))
    error: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SendPace(NotificationsModel, table=True):
    """The outbound rate limit, shared by every dispatcher: each claim reserves send
    slots after ``next_free_at`` under this row's lock."""

    __tablename__ = "send_pace"

    name: str = Field(primary_key=True, max_length=16)
    next_free_at: datetime = Field(sa_type=UTCDateTime)


class LoggedMessage(NotificationsModel, table=True):
    """What the ``log`` provider 'sent' (it keeps the text, never the number), so a
    development run shows what would have gone out and a restart can reconcile."""

    __tablename__ = "logged_messages"
    __table_args__ = (one_of("channel", Channel),)

    sid: str = Field(primary_key=True, max_length=64)
    reminder_id: uuid.UUID = Field(index=True)
    channel: Channel = Field(sa_type=vocabulary(8))
    body: str | None = Field(default=None, sa_type=sa.Text, nullable=True)  # NULL once erased
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FeedCursor(FeedCursorBase, NotificationsModel, table=True):
    __tablename__ = "feed_cursors"


class ChangeEvent(ChangeEventBase, NotificationsModel, table=True):
    __tablename__ = "change_events"
    __table_args__ = (event_order_index(), one_of("type", EventType))


class AuditEntry(AuditEntryBase, NotificationsModel, table=True):
    """The audit trail (``shared.audit``): append-only, chained, no personal data."""

    __tablename__ = "audit_entries"
    __table_args__ = (*audit_indexes(), one_of("action", AuditAction), one_of("role", Role))


class AuditHead(AuditHeadBase, NotificationsModel, table=True):
    __tablename__ = "audit_head"
