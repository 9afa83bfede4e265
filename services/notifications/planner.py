"""The reminder plan kept in the database: which reminders each pending expected check-in
gets, on which channel and in which words, re-planned whenever something it depends on
changes (the contact, a check-in, an opt-out). The timing rules themselves are in
``plan``; sending is the dispatcher's."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.config import ReminderPolicy
from notifications.enums import (
    CaseStatus,
    Channel,
    CheckinOutcome,
    ContactChannel,
    ReminderKind,
    ReminderStatus,
)
from notifications.models import Contact, ExpectedCheckin, OptOut, Reminder
from notifications.plan import Planned, plan
from notifications.segments import encode
from notifications.templates import templates
from shared.db import dialect_insert, utcnow

PolicyFor = Callable[[str | None], ReminderPolicy]


@dataclass(frozen=True)
class Planner:
    """The planning settings bound once: each programme's policy and the number people
    check in on, as the reminders name it."""

    policy_for: PolicyFor
    checkin_number: str

    async def replan(self, session: AsyncSession, *, case_ids: Sequence[uuid.UUID]) -> int:
        """``plan_reminders`` for these cases, now."""
        return await plan_reminders(session, case_ids=case_ids, policy_for=self.policy_for,
                                    checkin_number=self.checkin_number, now=utcnow())

    async def opt_out(self, session: AsyncSession, *, phone_hash: str, opted_out: bool,
                      case_ids: Sequence[uuid.UUID]) -> None:
        """A number said STOP (or START), to checkin or at the carrier: record it and move
        the cases' reminders to a call, stop them, or bring SMS back."""
        await set_opt_out(session, phone_hash=phone_hash, opted_out=opted_out)
        await self.replan(session, case_ids=case_ids)


async def set_opt_out(session: AsyncSession, *, phone_hash: str, opted_out: bool) -> None:
    if opted_out:
        await session.execute(
            dialect_insert(session)(OptOut).values(phone_hash=phone_hash, opted_out_at=utcnow())
            .on_conflict_do_nothing(index_elements=["phone_hash"]))
    else:
        await session.execute(sa.delete(OptOut).where(OptOut.phone_hash == phone_hash))


def channel_for(contact: Contact, *, opted_out: bool) -> Channel | None:
    """SMS where the person agreed to it and has not said STOP, else a voice call where
    they agreed to that; no reminder otherwise (in-person reporting only)."""
    if ContactChannel.sms in contact.channels and not opted_out:
        return Channel.sms
    if ContactChannel.voice in contact.channels:
        return Channel.voice
    return None


def spoken_number(number: str) -> str:
    """A phone number read aloud digit by digit, not as one huge number."""
    return " ".join(ch for ch in number if ch.isdigit())


def render(*, contact: Contact, expected: ExpectedCheckin, kind: ReminderKind, channel: Channel,
           checkin_number: str) -> str:
    """The reminder's text in the person's language and local time."""
    texts = templates(contact.language)
    tz = ZoneInfo(contact.timezone)
    opens, closes = expected.opens_at.astimezone(tz), expected.closes_at.astimezone(tz)
    number = checkin_number if channel == Channel.sms else spoken_number(checkin_number)
    values = texts.values(opens=opens, closes=closes,
                          grace_ends=expected.grace_ends_at.astimezone(tz), number=number)
    return texts.render(channel, kind, **values)


def _reminder_values(*, contact: Contact, expected: ExpectedCheckin, planned: Planned,
                     channel: Channel, checkin_number: str) -> dict[str, Any]:
    body = render(contact=contact, expected=expected, kind=planned.kind, channel=channel,
                  checkin_number=checkin_number)
    cost = encode(body) if channel == Channel.sms else None
    return {"channel": channel, "language": templates(contact.language).code, "body": body,
            "encoding": cost.encoding if cost else None, "segments": cost.segments if cost else None,
            "due_at": planned.due_at, "next_attempt_at": planned.due_at,
            "deadline": planned.deadline, "updated_at": utcnow()}


async def plan_reminders(session: AsyncSession, *, case_ids: Sequence[uuid.UUID],
                         policy_for: PolicyFor, checkin_number: str, now: datetime) -> int:
    """Bring the cases' planned reminders in line with their pending expected check-ins,
    contact and policy: add what is missing, move or re-word what changed, cancel what
    no longer applies; one cancelled earlier and wanted again (after START) is planned
    again. Sent and failed reminders are history and stay as they are, so a replay
    never sends a reminder twice. Returns how many were added."""
    if not case_ids:
        return 0
    contacts = {c.case_id: c for c in (await session.execute(
        sa.select(Contact).where(Contact.case_id.in_(case_ids)))).scalars()}
    opted_out = set((await session.execute(
        sa.select(OptOut.phone_hash).where(
            OptOut.phone_hash.in_({c.phone_hash for c in contacts.values()})))).scalars())
    expected = (await session.execute(
        sa.select(ExpectedCheckin).where(
            ExpectedCheckin.case_id.in_(case_ids), ExpectedCheckin.status == CheckinOutcome.pending,
            ExpectedCheckin.grace_ends_at > now))).scalars().all()
    existing = {(r.expected_checkin_id, r.kind): r for r in (await session.execute(
        sa.select(Reminder).where(
            Reminder.case_id.in_(case_ids),
            sa.or_(Reminder.status == ReminderStatus.planned,
                   Reminder.expected_checkin_id.in_([row.id for row in expected])))
    )).scalars()}

    # Planned reminders, by window: one already due stays wanted until its deadline.
    awaiting: dict[uuid.UUID, set[ReminderKind]] = {}
    for (expected_id, kind), reminder in existing.items():
        if reminder.status == ReminderStatus.planned:
            awaiting.setdefault(expected_id, set()).add(kind)

    wanted: dict[tuple[uuid.UUID, ReminderKind], dict[str, Any]] = {}
    for row in expected:
        contact = contacts.get(row.case_id)
        if contact is None or contact.status != CaseStatus.active:
            continue
        channel = channel_for(contact, opted_out=contact.phone_hash in opted_out)
        if channel is None:
            continue
        for planned in plan(opens_at=row.opens_at, closes_at=row.closes_at,
                            grace_ends_at=row.grace_ends_at, timezone=contact.timezone,
                            policy=policy_for(contact.programme), now=now,
                            awaiting=frozenset(awaiting.get(row.id, ()))):
            values = _reminder_values(contact=contact, expected=row, planned=planned,
                                      channel=channel, checkin_number=checkin_number)
            if planned.due_at < now:  # due already: a retry's backoff is the dispatcher's
                del values["next_attempt_at"]
            wanted[(row.id, planned.kind)] = values

    case_of = {row.id: row.case_id for row in expected}
    new = []
    for key, values in wanted.items():
        current = existing.get(key)
        if current is None:
            new.append({"id": uuid.uuid4(), "case_id": case_of[key[0]],
                        "expected_checkin_id": key[0], "kind": key[1], "status": ReminderStatus.planned,
                        "attempts": 0, **values})
        elif (current.status == ReminderStatus.planned and _differs(current, values)) or (
                current.status == ReminderStatus.cancelled):  # wanted again: START, a channel back
            for field, value in values.items():
                setattr(current, field, value)
            current.status, current.error = ReminderStatus.planned, None
    stale = [r.id for key, r in existing.items()
             if r.status == ReminderStatus.planned and key not in wanted]
    if stale:
        await cancel(session, Reminder.id.in_(stale), reason="no longer planned")
    if new:
        await session.execute(sa.insert(Reminder), new)
    await session.flush()
    return len(new)


def _differs(reminder: Reminder, values: dict[str, Any]) -> bool:
    return any(getattr(reminder, field) != value for field, value in values.items()
               if field != "updated_at")


async def cancel(session: AsyncSession, condition: sa.ColumnElement[bool], *,
                 reason: str) -> None:
    """Cancel what is still only planned; one being sent right now is left to finish."""
    await session.execute(
        sa.update(Reminder).where(condition, Reminder.status == ReminderStatus.planned)
        .values(status=ReminderStatus.cancelled, error=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False))
