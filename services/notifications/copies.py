"""The local copies kept from the registry's and checkin's feeds (contacts, expected
check-ins, opt-outs, follow-ups), each change followed by the planner's re-plan of the
cases it touches."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.enums import CheckinOutcome
from notifications.models import Contact, ExpectedCheckin, FollowUpCopy, Reminder
from notifications.planner import Planner, cancel
from shared.changefeed import Change
from shared.db import dialect_insert, utcnow

CASE_EVENTS = frozenset({"case.created", "case.updated", "case.status_changed"})


async def apply_registry_change(session: AsyncSession, change: Change, *,
                                planner: Planner) -> None:
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
    await planner.replan(session, case_ids=[case_id])


async def apply_checkin_change(session: AsyncSession, change: Change, *,
                               planner: Planner) -> None:
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
        if data["status"] == CheckinOutcome.pending:
            await planner.replan(session, case_ids=[values["case_id"]])
        else:  # attended, excused or missed: nothing more to remind about
            await cancel(session, Reminder.expected_checkin_id == expected_id,
                         reason=f"check-in {data['status']}")
    elif kind == "expected_checkin.cancelled":
        expected_id = uuid.UUID(data["id"])
        await session.execute(sa.delete(ExpectedCheckin).where(ExpectedCheckin.id == expected_id))
        await cancel(session, Reminder.expected_checkin_id == expected_id,
                     reason="check-in withdrawn")
    elif kind in ("contact.opted_out", "contact.opted_in"):
        await planner.opt_out(session, phone_hash=data["phone_hash"],
                              opted_out=kind == "contact.opted_out",
                              case_ids=[uuid.UUID(c) for c in data.get("case_ids", [])])
    elif kind.startswith("follow_up."):
        values = {"case_id": uuid.UUID(data["case_id"]), "kind": data["kind"][:32],
                  "status": data["status"][:16]}
        await session.execute(
            dialect_insert(session)(FollowUpCopy).values(id=uuid.UUID(data["id"]), **values)
            .on_conflict_do_update(index_elements=["id"], set_=values))
