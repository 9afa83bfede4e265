from __future__ import annotations

from fastapi import APIRouter, status

from checkin import outcomes
from checkin.api.deps import Caseworker, Supervisor
from checkin.schemas import OutageDeclared, OutageIn, OutageRead
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1/outages", tags=["outages"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OutageDeclared,
             responses=problem_responses(401, 403, 413, 422))
async def declare_outage(body: OutageIn, session: SessionDep, actor: Supervisor) -> OutageDeclared:
    """Blame the system, not the person: check-ins missed during the outage are excused."""
    outage, excused = await outcomes.declare_outage(
        session, channel=body.channel, starts_at=body.starts_at, ends_at=body.ends_at,
        reason=body.reason, actor=actor.sub)
    return OutageDeclared(**OutageRead.of(outage).model_dump(), excused=excused)


@router.get("", response_model=list[OutageRead], responses=problem_responses(401, 403))
async def list_outages(session: SessionDep, _: Caseworker) -> list[OutageRead]:
    return [OutageRead.of(o) for o in await outcomes.list_outages(session)]
