"""Cover for leave: a supervisor delegates a case to another caseworker until a date,
or revokes the delegation. The case's assigned caseworker keeps it throughout.

Each delegation made, extended or revoked bumps the case's version and publishes
``case.updated`` (whose ``delegations`` list the ones running), so checkin and
notifications learn it from the feed like any other change; it is kept in the
history with its actor. A delegation that runs out needs no event: every reader
compares ``until`` with its own date (UTC)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from registry import history, service
from registry.access import Actor
from registry.enums import CaseStatus
from registry.events import CaseUpdated
from registry.models import Case, Delegation
from registry.schemas import DelegationIn
from shared.errors import Conflict, NotFound, ValidationFailed


async def _open_case(session: AsyncSession, *, case_id: uuid.UUID, actor: Actor) -> Case:
    case = await service.get_case(session, case_id=case_id, actor=actor, for_update=True)
    if case.status == CaseStatus.closed:
        raise Conflict("A closed case cannot be changed.")
    return case


async def delegate(session: AsyncSession, *, case_id: uuid.UUID, data: DelegationIn,
                   actor: Actor) -> Delegation:
    """Delegate the case to ``data.to`` until ``data.until``; delegating again to the
    same caseworker replaces the date and the reason. The assigned caseworker needs no
    delegation (422 naming ``to``)."""
    case = await _open_case(session, case_id=case_id, actor=actor)
    if data.to == case.caseworker:
        raise ValidationFailed.field("to", "the case is already assigned to this caseworker")
    existing = next((d for d in case.delegations if d.delegate == data.to), None)
    before = existing.until.isoformat() if existing and existing in case.current_delegations \
        else None
    if existing is None:
        existing = Delegation(case_id=case.id, delegate=data.to, until=data.until,
                              reason=data.reason, created_by=actor.sub)
        case.delegations.append(existing)
    else:
        existing.until, existing.reason, existing.created_by = data.until, data.reason, actor.sub
    await service.claim_version(session, case, None)
    history.record_delegation(session, case=case, delegate=data.to, before=before,
                              after=data.until.isoformat(), reason=data.reason, actor=actor)
    await session.flush()
    await service.publish_case(session, case, CaseUpdated)
    return existing


async def revoke(session: AsyncSession, *, case_id: uuid.UUID, delegation_id: uuid.UUID,
                 actor: Actor) -> None:
    """End a delegation now (an expired one is simply removed); 404 if the case has no
    delegation with this id."""
    case = await _open_case(session, case_id=case_id, actor=actor)
    found = next((d for d in case.delegations if d.id == delegation_id), None)
    if found is None:
        raise NotFound("No delegation with this id on this case.")
    before = found.until.isoformat() if found in case.current_delegations else None
    case.delegations.remove(found)
    await service.claim_version(session, case, None)
    history.record_delegation(session, case=case, delegate=found.delegate, before=before,
                              after=None, reason=None, actor=actor)
    await session.flush()
    await service.publish_case(session, case, CaseUpdated)
