"""Follow-ups: what a caseworker should look at (a missed check-in, a PIN lock, a STOP,
a number reminders cannot reach), never a sanction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.enums import FollowUpKind, FollowUpStatus
from checkin.events import (
    ContactOptedIn,
    ContactOptedOut,
    FollowUpAcknowledged,
    FollowUpClosed,
    FollowUpOpened,
    publish_events,
)
from checkin.metrics import FOLLOW_UPS_OPENED
from checkin.models import CaseCopy, ExpectedCheckin, FollowUp
from shared.db import utcnow
from shared.errors import Conflict, NotFound
from shared.metrics import count_on_commit


async def open_follow_up(session: AsyncSession, *, case: CaseCopy, kind: FollowUpKind, detail: str,
                         expected_checkin_id: uuid.UUID | None = None) -> FollowUp:
    follow_up = FollowUp(case_id=case.case_id, kind=kind, assigned_to=case.caseworker,
                         expected_checkin_id=expected_checkin_id,
                         vulnerabilities=list(case.vulnerabilities), detail=detail)
    session.add(follow_up)
    await publish_events(session, FollowUpOpened.of(follow_up))
    count_on_commit(session, FOLLOW_UPS_OPENED, kind=kind)
    return follow_up


async def list_follow_ups(session: AsyncSession, *, assigned_to: str | None,
                          status: FollowUpStatus | None, case_id: uuid.UUID | None,
                          limit: int, within: Sequence[uuid.UUID] | None = None,
                          ) -> list[FollowUp]:
    """Newest first; ``within``, when given, limits them to those cases (a caseload)."""
    query = sa.select(FollowUp)
    if within is not None:
        query = query.where(FollowUp.case_id.in_(within))
    if assigned_to is not None:
        query = query.where(FollowUp.assigned_to == assigned_to)
    if status == FollowUpStatus.open:  # open means not yet closed: acknowledged ones are still open work
        query = query.where(FollowUp.status != FollowUpStatus.closed)
    elif status is not None:
        query = query.where(FollowUp.status == status)
    if case_id is not None:
        query = query.where(FollowUp.case_id == case_id)
    query = query.order_by(FollowUp.opened_at.desc(), FollowUp.id).limit(limit)
    return list((await session.execute(query)).scalars())


NO_SUCH_FOLLOW_UP = "No such follow-up."


async def get_follow_up(session: AsyncSession, *, follow_up_id: uuid.UUID) -> FollowUp:
    """The follow-up, locked for the change to come, or ``NotFound``."""
    follow_up = await session.get(FollowUp, follow_up_id, with_for_update=True)
    if follow_up is None:
        raise NotFound(NO_SUCH_FOLLOW_UP)
    return follow_up


async def acknowledge_follow_up(session: AsyncSession, *, follow_up_id: uuid.UUID,
                                actor: str) -> FollowUp:
    follow_up = await get_follow_up(session, follow_up_id=follow_up_id)
    if follow_up.status == FollowUpStatus.closed:
        raise Conflict("The follow-up is closed.")
    if follow_up.status == FollowUpStatus.open:
        follow_up.status, follow_up.acknowledged_by = FollowUpStatus.acknowledged, actor
        follow_up.acknowledged_at = utcnow()
        await publish_events(session, FollowUpAcknowledged.of(follow_up))
    await session.flush()
    return follow_up


async def _close(session: AsyncSession, follow_up: FollowUp, *, actor: str, note: str) -> None:
    follow_up.status, follow_up.closed_by, follow_up.closed_at = FollowUpStatus.closed, actor, utcnow()
    follow_up.note = note
    await publish_events(session, FollowUpClosed.of(follow_up))


async def close_follow_up(session: AsyncSession, *, follow_up_id: uuid.UUID, actor: str,
                          note: str) -> FollowUp:
    follow_up = await get_follow_up(session, follow_up_id=follow_up_id)
    if follow_up.status == FollowUpStatus.closed:
        raise Conflict("The follow-up is already closed.")
    await _close(session, follow_up, actor=actor, note=note)
    await session.flush()
    return follow_up


async def close_follow_ups_of(session: AsyncSession, expected: ExpectedCheckin, *, actor: str,
                               note: str) -> None:
    for follow_up in (await session.execute(sa.select(FollowUp).where(
            FollowUp.expected_checkin_id == expected.id, FollowUp.status != FollowUpStatus.closed)
    )).scalars():
        await _close(session, follow_up, actor=actor, note=note)


async def record_opt_out(session: AsyncSession, *, phone_hash: str, cases: Sequence[CaseCopy],
                         opted_out: bool) -> None:
    """STOP or START, for the notifications service to honour (keyed by the number's
    hash). After STOP the caseworker gets a follow-up to agree another way to remind
    the person: opting out of texts is never non-compliance."""
    event = ContactOptedOut if opted_out else ContactOptedIn
    await publish_events(session, event(phone_hash=phone_hash, case_ids=[c.case_id for c in cases]))
    if opted_out:
        for case in cases:
            await open_once(session, case=case, kind=FollowUpKind.opted_out, detail=(
                "The person replied STOP: no more SMS reminders go to their number. Agree "
                "another way to remind them (a call, or in person). This is not "
                "non-compliance."))


async def open_once(session: AsyncSession, *, case: CaseCopy, kind: FollowUpKind,
                    detail: str) -> None:
    """Open a follow-up unless one of the same kind is still open for the case."""
    open_already = await session.scalar(
        sa.select(FollowUp.id).where(FollowUp.case_id == case.case_id, FollowUp.kind == kind,
                                     FollowUp.status != FollowUpStatus.closed).limit(1))
    if open_already is None:
        await open_follow_up(session, case=case, kind=kind, detail=detail)


