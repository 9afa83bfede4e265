"""The feeds checkin follows: the registry's cases and the notifications service's
reminder deliveries. Each payload is parsed into checkin's own read model first
(``parse_registry_change``, ``parse_notifications_change``), never indexed raw; the
read models take only the keys checkin uses and ignore the rest, so a publisher may
add keys freely. An event type checkin does not know raises ``UnknownEvent`` (skipped
and counted by the feed); a known one whose payload does not parse, or whose
``schema_version`` is not one checkin knows, is an error that stops the feed there."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from checkin import erasure
from checkin.cases import get_case
from checkin.enums import (
    REMINDER_RANK,
    CaseStatus,
    Channel,
    FollowUpKind,
    NotificationsEvent,
    RegistryEvent,
    ReminderDelivery,
    UndeliverableReason,
)
from checkin.follow_ups import open_once
from checkin.models import CaseCopy, ExpectedCheckin
from checkin.schedule import plan_schedule
from shared.changefeed import Change, UnknownEvent
from shared.db import utcnow


class _ReadModel(BaseModel):
    """Lengths are those the case copy's columns hold: a longer value is a payload
    error here, not a database error later."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _Versioned(_ReadModel):
    # Events stored before versions were written are version 1.
    schema_version: Literal[1] = 1


# --- the registry's feed ---------------------------------------------------------------

_REGISTRY_EVENTS = frozenset(RegistryEvent)


class PersonCopy(_ReadModel):
    phone_hash: str = Field(max_length=64)
    preferred_language: str = Field(max_length=8)
    sex: str = Field(max_length=16)
    nationality: str = Field(max_length=2)
    date_of_birth: date


class ReportingCopy(_ReadModel):
    channels: list[Channel]
    rrule: str = Field(max_length=500)
    window_opens: time
    window_hours: int
    grace_hours: int
    timezone: str = Field(max_length=64)
    starts_on: date


class DelegationCopy(_ReadModel):
    """Cover for leave: ``to`` may see the case up to and including ``until`` (UTC)."""

    to: str = Field(min_length=1, max_length=128)
    until: date


class CaseChange(_Versioned):
    """Every ``case.*`` event carries the whole case as it now is. ``delegations`` is
    absent from events written before issue 11: none then."""

    id: uuid.UUID
    version: int
    reference: str = Field(max_length=8)
    keypad_reference: str = Field(max_length=10)
    status: CaseStatus
    caseworker: str = Field(max_length=128)
    programme: str = Field(max_length=64)
    vulnerabilities: list[str]
    delegations: list[DelegationCopy] = []
    person: PersonCopy
    reporting: ReportingCopy


class CaseErased(_Versioned):
    """``case.erased``: the person's data is erased in the registry, and the case is
    closed for good at ``version``; checkin erases its own (``checkin.erasure``)."""

    id: uuid.UUID
    version: int
    status: CaseStatus


def parse_registry_change(change: Change) -> CaseChange | CaseErased:
    """The registry's event as checkin reads it; ``UnknownEvent`` for a type it does not
    know, a ``pydantic.ValidationError`` for a payload it cannot read."""
    if change.type not in _REGISTRY_EVENTS:
        raise UnknownEvent(change.type)
    if change.type == RegistryEvent.case_erased:
        return CaseErased.model_validate(change.data)
    return CaseChange.model_validate(change.data)


async def apply_registry_change(session: AsyncSession, change: Change, *,
                                horizon_days: int = 56) -> None:
    """Keep the case copy current and re-plan its schedule. Events carry the whole case,
    so applying one is an upsert; one older than the copy (a replay, or out of order)
    changes nothing. ``case.erased`` erases what checkin holds about the person, also
    for a case it never saw, and again when replayed (``checkin.erasure``)."""
    case = parse_registry_change(change)
    if isinstance(case, CaseErased):
        await erasure.erase_case(session, case_id=case.id, version=case.version,
                                 status=case.status)
        return
    copy = await get_case(session, case_id=case.id, for_update=True, missing_ok=True)
    if copy is not None and copy.version >= case.version:
        return
    person, reporting = case.person, case.reporting
    values = {
        "version": case.version, "reference": case.reference,
        "keypad_reference": case.keypad_reference, "status": case.status,
        "phone_hash": person.phone_hash, "language": person.preferred_language,
        "caseworker": case.caseworker,
        "delegations": [d.model_dump(mode="json") for d in case.delegations],
        "programme": case.programme, "sex": person.sex,
        "nationality": person.nationality, "date_of_birth": person.date_of_birth,
        "vulnerabilities": list(case.vulnerabilities),
        "channels": [str(channel) for channel in reporting.channels], "rrule": reporting.rrule,
        "window_opens": reporting.window_opens, "window_hours": reporting.window_hours,
        "grace_hours": reporting.grace_hours, "timezone": reporting.timezone,
        "starts_on": reporting.starts_on, "updated_at": utcnow(),
    }
    if copy is None:
        copy = CaseCopy(case_id=case.id, **values)
        session.add(copy)
    else:
        for field, value in values.items():
            setattr(copy, field, value)
    await session.flush()
    await plan_schedule(session, case=copy, now=utcnow(), horizon=timedelta(days=horizon_days))


# --- the notifications feed ------------------------------------------------------------


class ReminderStatus(_Versioned):
    """``reminder.status``: how far a reminder for an expected check-in got."""

    expected_checkin_id: uuid.UUID | None = None
    status: ReminderDelivery


class ReminderUndeliverable(_Versioned):
    """``reminder.undeliverable``: the provider refused the person's number."""

    case_id: uuid.UUID
    channel: Channel = Channel.sms
    reason: str | None = None


NotificationsChange = ReminderStatus | ReminderUndeliverable
NOTIFICATIONS_EVENTS: dict[str, type[NotificationsChange]] = {
    NotificationsEvent.reminder_status: ReminderStatus,
    NotificationsEvent.reminder_undeliverable: ReminderUndeliverable}


def parse_notifications_change(change: Change) -> NotificationsChange:
    """The notifications event as checkin reads it; ``UnknownEvent`` for a type it does
    not know, a ``pydantic.ValidationError`` for a payload it cannot read."""
    model = NOTIFICATIONS_EVENTS.get(change.type)
    if model is None:
        raise UnknownEvent(change.type)
    return model.model_validate(change.data)


async def apply_notifications_change(session: AsyncSession, change: Change) -> None:
    """From the notifications feed: each reminder's delivery, noted on its expected
    check-in, and numbers that cannot be reached, which open a follow-up."""
    event = parse_notifications_change(change)
    if isinstance(event, ReminderStatus):
        if event.expected_checkin_id is None:
            return
        expected = await session.get(ExpectedCheckin, event.expected_checkin_id)
        if expected is not None and REMINDER_RANK[event.status] >= REMINDER_RANK.get(
                expected.reminder_status, 0):  # type: ignore[call-overload]
            expected.reminder_status = event.status
        return
    case = await get_case(session, case_id=event.case_id, missing_ok=True)
    if case is None:
        return
    why = ("the number opted out of messages at the carrier"
           if event.reason == UndeliverableReason.opted_out else "the number cannot receive them")
    await open_once(session, case=case, kind=FollowUpKind.contact_unreachable, detail=(
        f"Reminders by {event.channel} cannot reach the person: {why}. "
        "Check the number with them or agree another way to remind them."))
