from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from registry import service
from registry.api.deps import CaseReader, CaseWriter, IfMatch, LanguagesDep, VaultDep, etag
from registry.enums import CaseStatus
from registry.schemas import (
    CaseCreate,
    CaseList,
    CasePatch,
    CaseRead,
    Caseworker,
    StatusChangeRead,
    Text,
    TransitionIn,
)
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseRead,
             responses=problem_responses(401, 403, 413, 422))
async def create_case(
    body: CaseCreate, session: SessionDep, actor: CaseWriter, vault: VaultDep,
    languages: LanguagesDep, response: Response,
) -> CaseRead:
    case = await service.create_case(session, data=body, actor=actor, vault=vault,
                                     languages=languages)
    response.headers["ETag"] = etag(case.version)
    response.headers["Location"] = f"/v1/cases/{case.id}"
    return service.case_read(case, vault)


@router.get("", response_model=CaseList, responses=problem_responses(401, 403, 422))
async def list_cases(
    session: SessionDep, _: CaseReader, vault: VaultDep,
    status: CaseStatus | None = None,
    caseworker: Caseworker | None = None,
    review_due_before: date | None = None,
    reference: Annotated[Text | None, Query(max_length=16,
                                            description="letters or keypad form")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CaseList:
    cases, next_cursor = await service.list_cases(
        session, status=status, caseworker=caseworker, review_due_before=review_due_before,
        reference=reference, cursor=cursor, limit=limit,
    )
    return CaseList(items=[service.case_read(c, vault) for c in cases], next_cursor=next_cursor)


@router.get("/{case_id}", response_model=CaseRead,
            responses=problem_responses(401, 403, 404, 422))
async def get_case(
    case_id: uuid.UUID, session: SessionDep, _: CaseReader, vault: VaultDep, response: Response
) -> CaseRead:
    case = await service.get_case(session, case_id=case_id)
    response.headers["ETag"] = etag(case.version)
    return service.case_read(case, vault)


@router.patch("/{case_id}", response_model=CaseRead,
              responses=problem_responses(401, 403, 404, 409, 412, 413, 422))
async def update_case(
    case_id: uuid.UUID, body: CasePatch, session: SessionDep, actor: CaseWriter,
    vault: VaultDep, languages: LanguagesDep, if_match: IfMatch, response: Response,
) -> CaseRead:
    case = await service.update_case(session, case_id=case_id, patch=body, actor=actor,
                                     if_match=if_match, vault=vault, languages=languages)
    response.headers["ETag"] = etag(case.version)
    return service.case_read(case, vault)


@router.post("/{case_id}/transitions", response_model=CaseRead,
             responses=problem_responses(401, 403, 404, 409, 412, 413, 422))
async def transition_case(
    case_id: uuid.UUID, body: TransitionIn, session: SessionDep, actor: CaseWriter,
    vault: VaultDep, if_match: IfMatch, response: Response,
) -> CaseRead:
    case = await service.transition_case(
        session, case_id=case_id, to=body.to, reason=body.reason, outcome=body.outcome,
        actor=actor, if_match=if_match,
    )
    response.headers["ETag"] = etag(case.version)
    return service.case_read(case, vault)


@router.get("/{case_id}/history", response_model=list[StatusChangeRead],
            responses=problem_responses(401, 403, 404, 422))
async def case_history(case_id: uuid.UUID, session: SessionDep, _: CaseReader) -> list:
    return await service.case_history(session, case_id=case_id)
