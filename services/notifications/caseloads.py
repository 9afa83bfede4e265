"""Whose caseload a case is in, as notifications knows it: the caseworker and the
delegations of its contact copy, kept from the registry's feed (so a reassignment or a
delegation applies here one feed poll after the registry made it). A delegation runs up
to and including its ``until`` (a UTC date), compared with today here: its end needs
no event."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from notifications.models import Contact
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.errors import NotFound


def covers(contact: Contact, sub: str, today: date) -> bool:
    """Whether ``sub`` is the case's caseworker or a delegate still covering it."""
    return contact.caseworker == sub or any(
        d.get("to") == sub and d.get("until", "") >= today.isoformat()
        for d in contact.delegations)


async def require_in_caseload(session: AsyncSession, *, case_id: uuid.UUID,
                              principal: Principal) -> None:
    """Nothing for a supervisor; for a caseworker, 404 unless the case is theirs or
    delegated to them: the same answer as for a case notifications never heard of, so
    nothing tells them it exists."""
    if principal.has(Role.supervisor):
        return
    contact = await session.get(Contact, case_id)
    if contact is None or not covers(contact, principal.sub, utcnow().date()):
        raise NotFound("No such case.")  # word for word the unknown case's answer
