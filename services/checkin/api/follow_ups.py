from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from checkin import follow_ups
from checkin.api.deps import Caseworker
from checkin.caseloads import caseload_ids, require_in_caseload
from checkin.enums import AuditAction, FollowUpStatus
from checkin.schemas import FollowUpClose, FollowUpList, FollowUpRead
from shared.audit import AuditDep
from shared.auth import Principal
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1/follow-ups", tags=["follow-ups"])


@router.get("", response_model=FollowUpList, responses=problem_responses(401, 403, 422))
async def list_follow_ups(
    session: SessionDep, actor: Caseworker, audit: AuditDep,
    mine: bool = False,
    status: FollowUpStatus | None = None,
    case_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FollowUpList:
    """Follow-ups, newest first: ``mine`` (assigned to the caller), ``status=open`` (not
    yet closed), or one case's; a caseworker's only those of their caseload."""
    rows = await follow_ups.list_follow_ups(session, assigned_to=actor.sub if mine else None,
                                         status=status, case_id=case_id, limit=limit,
                                         within=await caseload_ids(session, principal=actor))
    await audit.record(AuditAction.follow_ups_listed, *dict.fromkeys(r.case_id for r in rows))
    return FollowUpList(items=[FollowUpRead.of(r) for r in rows])


@router.post("/{follow_up_id}/acknowledge", response_model=FollowUpRead,
             responses=problem_responses(401, 403, 404, 409, 422))
async def acknowledge(follow_up_id: uuid.UUID, session: SessionDep,
                      actor: Caseworker, audit: AuditDep) -> FollowUpRead:
    await _require_in_caseload(session, follow_up_id=follow_up_id, actor=actor)
    follow_up = await follow_ups.acknowledge_follow_up(
        session, follow_up_id=follow_up_id, actor=actor.sub)
    await audit.record(AuditAction.follow_up_acknowledged, follow_up.case_id)
    return FollowUpRead.of(follow_up)


@router.post("/{follow_up_id}/close", response_model=FollowUpRead,
             responses=problem_responses(401, 403, 404, 409, 413, 422))
async def close(follow_up_id: uuid.UUID, body: FollowUpClose, session: SessionDep,
                actor: Caseworker, audit: AuditDep) -> FollowUpRead:
    await _require_in_caseload(session, follow_up_id=follow_up_id, actor=actor)
    follow_up = await follow_ups.close_follow_up(
        session, follow_up_id=follow_up_id, actor=actor.sub, note=body.note)
    await audit.record(AuditAction.follow_up_closed, follow_up.case_id)
    return FollowUpRead.of(follow_up)


async def _require_in_caseload(session: AsyncSession, *, follow_up_id: uuid.UUID,
                               actor: Principal) -> None:
    """A follow-up outside the caseworker's caseload is a 404, as an unknown one is."""
    follow_up = await follow_ups.get_follow_up(session, follow_up_id=follow_up_id)
    await require_in_caseload(session, case_id=follow_up.case_id, principal=actor,
                              missing=follow_ups.NO_SUCH_FOLLOW_UP)
