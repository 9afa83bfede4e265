"""Whose caseload a case is in, as checkin knows it: the caseworker and the delegations
of its case copy, kept from the registry's feed (so a reassignment or a delegation
applies here one feed poll after the registry made it). A delegation runs up to and
including its ``until`` (a UTC date), compared with today here: its end needs no
event. A supervisor's caseload is every case."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.models import CaseCopy
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.errors import NotFound


def covers(case: CaseCopy, sub: str, today: date) -> bool:
    """Whether ``sub`` is the case's caseworker or a delegate still covering it."""
    return case.caseworker == sub or any(
        d.get("to") == sub and d.get("until", "") >= today.isoformat()
        for d in case.delegations)


async def require_in_caseload(session: AsyncSession, *, case_id: uuid.UUID,
                              principal: Principal, missing: str = "No such case.") -> None:
    """Nothing for a supervisor; for a caseworker, 404 unless the case is theirs or
    delegated to them: word for word the answer for something checkin never heard of
    (``missing``: the case, or the window or follow-up the route names), so nothing
    tells them it exists."""
    if principal.has(Role.supervisor):
        return
    case = await session.get(CaseCopy, case_id)
    if case is None or not covers(case, principal.sub, utcnow().date()):
        raise NotFound(missing)


async def caseload_ids(session: AsyncSession, *, principal: Principal) -> list[uuid.UUID] | None:
    """The ids of the caseworker's cases; ``None`` (no limit) for a supervisor."""
    if principal.has(Role.supervisor):
        return None
    # The text of the JSON narrows the rows portably; ``covers`` decides.
    query = sa.select(CaseCopy).where(sa.or_(
        CaseCopy.caseworker == principal.sub,
        sa.cast(CaseCopy.delegations, sa.String).contains(principal.sub, autoescape=True)))
    today = utcnow().date()
    return [case.case_id for case in (await session.execute(query)).scalars()
            if covers(case, principal.sub, today)]
