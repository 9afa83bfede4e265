"""The local copies kept from the registry's and checkin's feeds (contacts, expected
check-ins, opt-outs, follow-ups), each change followed by the planner's re-plan of the
cases it touches. Payloads are read through ``feeds``' read models only."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications import erasure
from notifications.enums import CheckinOutcome
from notifications.feeds import (
    CaseErased,
    ExpectedCheckinChange,
    ExpectedCheckinWithdrawn,
    FollowUpChange,
    OptedOut,
    parse_checkin_change,
    parse_registry_change,
)
from notifications.models import Contact, ExpectedCheckin, FollowUpCopy, Reminder
from notifications.planner import Planner, cancel
from shared.changefeed import Change
from shared.db import dialect_insert, utcnow


async def apply_registry_change(session: AsyncSession, change: Change, *,
                                planner: Planner) -> None:
    """Keep the contact copy current and re-plan the case's reminders. Events carry the
    whole case; one older than the copy (a replay, or out of order) changes nothing.
    ``case.erased`` erases what notifications holds about the person, idempotently,
    also for a case it never saw (``notifications.erasure``)."""
    case = parse_registry_change(change)
    if isinstance(case, CaseErased):
        await erasure.erase_case(session, case_id=case.id, version=case.version,
                                 status=case.status)
        return
    contact = await session.get(Contact, case.id, with_for_update=True)
    if contact is not None and contact.version >= case.version:
        return
    person, reporting = case.person, case.reporting
    values = {
        "version": case.version, "status": case.status,
        "phone_encrypted": person.phone_encrypted, "phone_hash": person.phone_hash,
        "language": person.preferred_language, "channels": list(reporting.channels),
        "timezone": reporting.timezone, "programme": case.programme,
        "caseworker": case.caseworker,
        "delegations": [d.model_dump(mode="json") for d in case.delegations],
        "updated_at": utcnow(),
    }
    if contact is None:
        session.add(Contact(case_id=case.id, **values))
    else:
        for field, value in values.items():
            setattr(contact, field, value)
    await session.flush()
    await planner.replan(session, case_ids=[case.id])


async def apply_checkin_change(session: AsyncSession, change: Change, *,
                               planner: Planner) -> None:
    """Expected check-ins and their outcomes, opt-outs and follow-ups from checkin."""
    event = parse_checkin_change(change)
    if isinstance(event, ExpectedCheckinChange):
        values = {"case_id": event.case_id, "status": event.status, "opens_at": event.opens_at,
                  "closes_at": event.closes_at, "grace_ends_at": event.grace_ends_at}
        await session.execute(
            dialect_insert(session)(ExpectedCheckin).values(id=event.id, **values)
            .on_conflict_do_update(index_elements=["id"], set_=values))
        if event.status == CheckinOutcome.pending:
            await planner.replan(session, case_ids=[event.case_id])
        else:  # attended, excused or missed: nothing more to remind about
            await cancel(session, Reminder.expected_checkin_id == event.id,
                         reason=f"check-in {event.status}")
    elif isinstance(event, ExpectedCheckinWithdrawn):
        await session.execute(sa.delete(ExpectedCheckin).where(ExpectedCheckin.id == event.id))
        await cancel(session, Reminder.expected_checkin_id == event.id,
                     reason="check-in withdrawn")
    elif isinstance(event, OptedOut):
        await planner.opt_out(session, phone_hash=event.phone_hash, opted_out=event.opted_out,
                              case_ids=event.case_ids)
    elif isinstance(event, FollowUpChange):
        values = {"case_id": event.case_id, "kind": event.kind, "status": event.status}
        await session.execute(
            dialect_insert(session)(FollowUpCopy).values(id=event.id, **values)
            .on_conflict_do_update(index_elements=["id"], set_=values))
