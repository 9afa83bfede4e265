"""Notifications logic: the local copies kept from the registry's and checkin's feeds,
the reminder plan, delivery status and the caseworker's list. Plain functions over a
session, keyword-only arguments. Sending lives in ``dispatch``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.config import ReminderPolicy
from notifications.models import (
    ChangeEvent,
    Contact,
    ExpectedCheckin,
    FollowUpCopy,
    OptOut,
    Reminder,
)
from notifications.plan import Planned, plan
from notifications.segments import encode
from notifications.templates import templates
from shared.changefeed import Change, publish_many
from shared.db import dialect_insert, utcnow
from shared.errors import NotFound

CASE_EVENTS = frozenset({"case.created", "case.updated", "case.status_changed"})
PolicyFor = Callable[[str | None], ReminderPolicy]


# --- local copies -------------------------------------------------------------------


async def apply_registry_change(session: AsyncSession, change: Change, *, policy_for: PolicyFor,
                                checkin_number: str) -> None:
    """Keep the contact copy current and re-plan the case's reminders. Events carry the
    whole case; one older than the copy (a replay, or out of order) changes nothing."""
    if change.type not in CASE_EVENTS:
        return
    data = change.data
    case_id = uuid.UUID(data["id"])
    contact = await session.get(Contact, case_id, with_for_update=True)
    if contact is not None and contact.version >= data["version"]:
        return
    person, reporting = data["person"], data["reporting"]
    values = {
        "version": data["version"], "status": data["status"],
        "phone_encrypted": person["phone_encrypted"], "phone_hash": person["phone_hash"],
        "language": person["preferred_language"], "channels": list(reporting["channels"]),
        "timezone": reporting["timezone"], "programme": data["programme"], "updated_at": utcnow(),
    }
    if contact is None:
        session.add(Contact(case_id=case_id, **values))
    else:
        for field, value in values.items():
            setattr(contact, field, value)
    await session.flush()
    await plan_reminders(session, case_ids=[case_id], policy_for=policy_for,
                         checkin_number=checkin_number, now=utcnow())


async def apply_checkin_change(session: AsyncSession, change: Change, *, policy_for: PolicyFor,
                               checkin_number: str) -> None:
    """Expected check-ins and their outcomes, opt-outs and follow-ups from checkin."""
    data, kind = change.data, change.type
    if kind in ("expected_checkin.planned", "expected_checkin.outcome"):
        expected_id = uuid.UUID(data["id"])
        values = {"case_id": uuid.UUID(data["case_id"]), "status": data["status"],
                  **{name: datetime.fromisoformat(data[name])
                     for name in ("opens_at", "closes_at", "grace_ends_at")}}
        await session.execute(
            dialect_insert(session)(ExpectedCheckin).values(id=expected_id, **values)
            .on_conflict_do_update(index_elements=["id"], set_=values))
        if data["status"] == "pending":
            await plan_reminders(session, case_ids=[values["case_id"]], policy_for=policy_for,
                                 checkin_number=checkin_number, now=utcnow())
        else:  # attended, excused or missed: nothing more to remind about
            await _cancel(session, Reminder.expected_checkin_id == expected_id,
                          reason=f"check-in {data['status']}")
    elif kind == "expected_checkin.cancelled":
        expected_id = uuid.UUID(data["id"])
        await session.execute(sa.delete(ExpectedCheckin).where(ExpectedCheckin.id == expected_id))
        await _cancel(session, Reminder.expected_checkin_id == expected_id,
                      reason="check-in withdrawn")
    elif kind in ("contact.opted_out", "contact.opted_in"):
        await set_opt_out(session, phone_hash=data["phone_hash"],
                          opted_out=kind == "contact.opted_out")
        case_ids = [uuid.UUID(c) for c in data.get("case_ids", [])]
        await plan_reminders(session, case_ids=case_ids, policy_for=policy_for,
                             checkin_number=checkin_number, now=utcnow())
    elif kind.startswith("follow_up."):
        values = {"case_id": uuid.UUID(data["case_id"]), "kind": data["kind"][:32],
                  "status": data["status"][:16]}
        await session.execute(
            dialect_insert(session)(FollowUpCopy).values(id=uuid.UUID(data["id"]), **values)
            .on_conflict_do_update(index_elements=["id"], set_=values))


async def set_opt_out(session: AsyncSession, *, phone_hash: str, opted_out: bool) -> None:
    if opted_out:
        await session.execute(
            dialect_insert(session)(OptOut).values(phone_hash=phone_hash, opted_out_at=utcnow())
            .on_conflict_do_nothing(index_elements=["phone_hash"]))
    else:
        await session.execute(sa.delete(OptOut).where(OptOut.phone_hash == phone_hash))


# --- the reminder plan ---------------------------------------------------------------


def channel_for(contact: Contact, *, opted_out: bool) -> str | None:
    """SMS where the person agreed to it and has not said STOP, else a voice call where
    they agreed to that; no reminder otherwise (in-person reporting only)."""
    if "sms" in contact.channels and not opted_out:
        return "sms"
    if "voice" in contact.channels:
        return "voice"
    return None


def spoken_number(number: str) -> str:
    """A phone number read aloud digit by digit, not as one huge number."""
    return " ".join(ch for ch in number if ch.isdigit())


def render(*, contact: Contact, expected: ExpectedCheckin, kind: str, channel: str,
           checkin_number: str) -> str:
    """The reminder's text in the person's language and local time."""
    texts = templates(contact.language)
    tz = ZoneInfo(contact.timezone)
    opens, closes = expected.opens_at.astimezone(tz), expected.closes_at.astimezone(tz)
    number = checkin_number if channel == "sms" else spoken_number(checkin_number)
    values: dict[str, str] = {"number": number}
    if kind == "evening_before":
        values["window"] = texts.window(opens, closes)
    elif kind == "window_opens":
        values["closes"] = texts.when(closes)
    else:
        values["grace_ends"] = texts.when(expected.grace_ends_at.astimezone(tz))
    return texts.render(channel, kind, **values)


def _reminder_values(*, contact: Contact, expected: ExpectedCheckin, planned: Planned,
                     channel: str, checkin_number: str) -> dict[str, Any]:
    body = render(contact=contact, expected=expected, kind=planned.kind, channel=channel,
                  checkin_number=checkin_number)
    cost = encode(body) if channel == "sms" else None
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
            ExpectedCheckin.case_id.in_(case_ids), ExpectedCheckin.status == "pending",
            ExpectedCheckin.grace_ends_at > now))).scalars().all()
    existing = {(r.expected_checkin_id, r.kind): r for r in (await session.execute(
        sa.select(Reminder).where(
            Reminder.case_id.in_(case_ids),
            sa.or_(Reminder.status == "planned",
                   Reminder.expected_checkin_id.in_([row.id for row in expected])))
    )).scalars()}

    wanted: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    for row in expected:
        contact = contacts.get(row.case_id)
        if contact is None or contact.status != "active":
            continue
        channel = channel_for(contact, opted_out=contact.phone_hash in opted_out)
        if channel is None:
            continue
        for planned in plan(opens_at=row.opens_at, closes_at=row.closes_at,
                            grace_ends_at=row.grace_ends_at, timezone=contact.timezone,
                            policy=policy_for(contact.programme), now=now):
            wanted[(row.id, planned.kind)] = _reminder_values(
                contact=contact, expected=row, planned=planned, channel=channel,
                checkin_number=checkin_number)

    case_of = {row.id: row.case_id for row in expected}
    new = []
    for key, values in wanted.items():
        current = existing.get(key)
        if current is None:
            new.append({"id": uuid.uuid4(), "case_id": case_of[key[0]],
                        "expected_checkin_id": key[0], "kind": key[1], "status": "planned",
                        "attempts": 0, **values})
        elif (current.status == "planned" and _differs(current, values)) or (
                current.status == "cancelled"):  # wanted again: START, a channel back
            for field, value in values.items():
                setattr(current, field, value)
            current.status, current.error = "planned", None
    stale = [r.id for key, r in existing.items() if r.status == "planned" and key not in wanted]
    if stale:
        await _cancel(session, Reminder.id.in_(stale), reason="no longer planned")
    if new:
        await session.execute(sa.insert(Reminder), new)
    await session.flush()
    return len(new)


def _differs(reminder: Reminder, values: dict[str, Any]) -> bool:
    return any(getattr(reminder, field) != value for field, value in values.items()
               if field != "updated_at")


async def _cancel(session: AsyncSession, condition: sa.ColumnElement[bool], *,
                  reason: str) -> None:
    """Cancel what is still only planned; one being sent right now is left to finish."""
    await session.execute(
        sa.update(Reminder).where(condition, Reminder.status == "planned")
        .values(status="cancelled", error=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False))


# --- delivery status -----------------------------------------------------------------

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


async def publish_reminder_status(session: AsyncSession, reminders: Iterable[Reminder | Any], *,
                                  status: str | None = None, reason: str | None = None) -> None:
    """``reminder.status`` events: checkin notes them on the expected check-in, so a
    follow-up for a missed one can say the person was never told."""
    events = [("reminder.status", r.id, {
        "reminder_id": str(r.id), "case_id": str(r.case_id),
        "expected_checkin_id": str(r.expected_checkin_id), "kind": r.kind, "channel": r.channel,
        "status": status or r.status, **({"reason": reason} if reason else {})})
        for r in reminders]
    if events:
        await publish_many(session, ChangeEvent, events)


async def list_notifications(session: AsyncSession, *, case_id: uuid.UUID,
                             limit: int) -> Sequence[Reminder]:
    """A case's reminders, newest plan first. 404 for a case this service has never
    heard of."""
    if await session.get(Contact, case_id) is None:  # reminders are only planned for contacts
        raise NotFound("No such case.")
    return (await session.execute(
        sa.select(Reminder).where(Reminder.case_id == case_id)
        .order_by(Reminder.due_at.desc(), Reminder.kind).limit(limit))).scalars().all()
