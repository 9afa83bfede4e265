"""Applying the feeds checkin follows: the registry's cases and the notifications
service's reminder deliveries."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from checkin.cases import get_case
from checkin.follow_ups import open_once
from checkin.models import CaseCopy, ExpectedCheckin
from checkin.schedule import plan_schedule
from shared.changefeed import Change
from shared.db import utcnow

CASE_EVENTS = frozenset({"case.created", "case.updated", "case.status_changed"})


async def apply_registry_change(session: AsyncSession, change: Change, *,
                                horizon_days: int = 56) -> None:
    """Keep the case copy current and re-plan its schedule. Events carry the whole case,
    so applying one is an upsert; one older than the copy (a replay, or out of order)
    changes nothing."""
    if change.type not in CASE_EVENTS:
        return
    data = change.data
    case_id = uuid.UUID(data["id"])
    copy = await get_case(session, case_id=case_id, for_update=True, missing_ok=True)
    if copy is not None and copy.version >= data["version"]:
        return
    person, reporting = data["person"], data["reporting"]
    values = {
        "version": data["version"], "reference": data["reference"],
        "keypad_reference": data["keypad_reference"], "status": data["status"],
        "phone_hash": person["phone_hash"], "language": person["preferred_language"],
        "caseworker": data["caseworker"], "programme": data["programme"],
        "sex": person["sex"], "nationality": person["nationality"],
        "date_of_birth": date.fromisoformat(person["date_of_birth"]),
        "vulnerabilities": list(data["vulnerabilities"]),
        "channels": list(reporting["channels"]), "rrule": reporting["rrule"],
        "window_opens": time.fromisoformat(reporting["window_opens"]),
        "window_hours": reporting["window_hours"], "grace_hours": reporting["grace_hours"],
        "timezone": reporting["timezone"],
        "starts_on": date.fromisoformat(reporting["starts_on"]), "updated_at": utcnow(),
    }
    if copy is None:
        copy = CaseCopy(case_id=case_id, **values)
        session.add(copy)
    else:
        for field, value in values.items():
            setattr(copy, field, value)
    await session.flush()
    await plan_schedule(session, case=copy, now=utcnow(), horizon=timedelta(days=horizon_days))


# A reminder that reached the person outranks one that did not: a follow-up only says
# "not delivered" when none of the check-in's reminders got through.
_REMINDER_RANK = {"failed": 1, "undelivered": 1, "sent": 2, "delivered": 3}


async def apply_notifications_change(session: AsyncSession, change: Change) -> None:
    """From the notifications feed: each reminder's delivery, noted on its expected
    check-in, and numbers that cannot be reached, which open a follow-up."""
    data = change.data
    if change.type == "reminder.status" and data.get("expected_checkin_id"):
        expected = await session.get(ExpectedCheckin, uuid.UUID(data["expected_checkin_id"]))
        status = str(data["status"])[:16]
        if expected is not None and _REMINDER_RANK.get(status, 0) >= _REMINDER_RANK.get(
                expected.reminder_status or "", 0):
            expected.reminder_status = status
    elif change.type == "reminder.undeliverable":
        case = await get_case(session, case_id=uuid.UUID(data["case_id"]), missing_ok=True)
        if case is None:
            return
        why = ("the number opted out of messages at the carrier"
               if data.get("reason") == "opted_out" else "the number cannot receive them")
        await open_once(session, case=case, kind="contact_unreachable", detail=(
            f"Reminders by {data.get('channel', 'sms')} cannot reach the person: {why}. "
            "Check the number with them or agree another way to remind them."))


