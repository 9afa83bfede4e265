"""Checkin logic: plain functions over a session."""

from __future__ import annotations

import uuid
from datetime import date, time

from sqlalchemy.ext.asyncio import AsyncSession

from checkin.models import CaseCopy
from shared.changefeed import Change
from shared.db import utcnow

CASE_EVENTS = frozenset({"case.created", "case.updated", "case.status_changed"})


async def apply_registry_change(session: AsyncSession, change: Change) -> None:
    """Keep the case copy current. Events carry the whole case, so applying one is an
    upsert; one older than the copy (a replay, or out of order) changes nothing."""
    if change.type not in CASE_EVENTS:
        return
    data = change.data
    case_id = uuid.UUID(data["id"])
    copy = await session.get(CaseCopy, case_id)
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
        session.add(CaseCopy(case_id=case_id, **values))
    else:
        for field, value in values.items():
            setattr(copy, field, value)
    await session.flush()
