"""What checkin publishes on its change feed: one model per event type.

The contract: ``data`` is ``model_dump(mode="json")`` of these models, and nothing
else builds it (``publish_events``). ``schema_version`` changes only when a key is
removed or changes meaning; consumers refuse a version they do not know. Adding a
key keeps version 1 (consumers ignore keys they do not read). Instants are written
as ``datetime.isoformat()`` (``2026-12-07T09:00:00+00:00``), as they always were.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.enums import (
    Channel,
    EventType,
    FollowUpKind,
    FollowUpStatus,
    OutageChannel,
    Outcome,
    Timing,
)
from checkin.models import ChangeEvent
from shared.changefeed import publish_many

Instant = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ClassVar[EventType]

    schema_version: Literal[1] = 1

    @classmethod
    def of(cls, row: object) -> Self:
        """The event for a row as it now is (its attributes of the same names)."""
        # Keyword arguments, not ``from_attributes``: half the cost, on every check-in.
        return cls(**{name: getattr(row, name) for name in _row_fields(cls)})

    @property
    def subject_id(self) -> uuid.UUID:
        """The row the event is about (the feed's ``subject_id``)."""
        return self.id  # type: ignore[attr-defined,no-any-return]


@functools.cache
def _row_fields(model: type[Event]) -> tuple[str, ...]:
    return tuple(name for name in model.model_fields if name != "schema_version")


class _AboutExpectedCheckin(Event):
    id: uuid.UUID
    case_id: uuid.UUID


class ExpectedCheckinCancelled(_AboutExpectedCheckin):
    """A pending window was withdrawn (the requirement changed or the case is no longer
    active): nothing is expected of the person for it."""

    type = EventType.expected_checkin_cancelled


class _Window(_AboutExpectedCheckin):
    opens_at: Instant
    closes_at: Instant
    grace_ends_at: Instant
    status: Outcome


class ExpectedCheckinPlanned(_Window):
    """A window the person is expected to report in, planned ahead (always ``pending``)."""

    type = EventType.expected_checkin_planned


class ExpectedCheckinOutcome(_Window):
    """A window was settled: attended (on time or late), missed or excused."""

    type = EventType.expected_checkin_outcome
    excusal_reason: str | None


class CheckinRecorded(Event):
    """A check-in reached us; ``expected_checkin_id`` is empty for an unscheduled one."""

    type = EventType.checkin_recorded
    id: uuid.UUID
    case_id: uuid.UUID
    channel: Channel
    received_at: Instant
    timing: Timing
    expected_checkin_id: uuid.UUID | None


class PinIssued(Event):
    """A case got a new PIN (the PIN itself is never published)."""

    type = EventType.pin_issued
    case_id: uuid.UUID

    @property
    def subject_id(self) -> uuid.UUID:
        return self.case_id


class OutageDeclared(Event):
    type = EventType.outage_declared
    id: uuid.UUID
    channel: OutageChannel
    starts_at: Instant
    ends_at: Instant
    reason: str


class FollowUpOpened(Event):
    """A follow-up for the caseworker, as it now is."""

    type = EventType.follow_up_opened
    id: uuid.UUID
    case_id: uuid.UUID
    kind: FollowUpKind
    status: FollowUpStatus
    assigned_to: str
    expected_checkin_id: uuid.UUID | None


class FollowUpAcknowledged(FollowUpOpened):
    type = EventType.follow_up_acknowledged


class FollowUpClosed(FollowUpOpened):
    type = EventType.follow_up_closed


class ContactOptedOut(Event):
    """The person texted STOP from the number with this hash: send it no more SMS."""

    type = EventType.contact_opted_out
    phone_hash: str
    case_ids: list[uuid.UUID]

    @property
    def subject_id(self) -> uuid.UUID:
        return self.case_ids[0] if self.case_ids else uuid.UUID(int=0)


class ContactOptedIn(ContactOptedOut):
    """START: the number takes SMS again."""

    type = EventType.contact_opted_in


EVENTS: dict[EventType, type[Event]] = {model.type: model for model in (
    ExpectedCheckinCancelled, ExpectedCheckinPlanned, ExpectedCheckinOutcome, CheckinRecorded,
    PinIssued, OutageDeclared, FollowUpOpened, FollowUpAcknowledged, FollowUpClosed,
    ContactOptedOut, ContactOptedIn)}
"""Each event type's model: every member of ``EventType`` has one."""


async def publish_events(session: AsyncSession, *events: Event) -> None:
    """Append the events in the caller's transaction, in one round trip: they are
    visible exactly when the change they describe commits."""
    if not events:
        return
    await publish_many(session, ChangeEvent, [
        (event.type, event.subject_id, event.model_dump(mode="json")) for event in events])
