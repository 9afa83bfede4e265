"""The case routes. Every one answers for the caller's caseload only
(``registry.access``): a case outside it is a 404, as if it did not exist."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from registry import delegations, erasure, history, service
from registry.api.deps import CaseWorker, IfMatch, LanguagesDep, Supervisor, VaultDep, etag
from registry.enums import AuditAction, CaseStatus
from registry.schemas import (
    CaseCreate,
    CaseList,
    CasePatch,
    CaseRead,
    Caseworker,
    DelegationIn,
    DelegationRead,
    ErasureIn,
    HistoryEntry,
    Text,
    TransitionIn,
)
from shared.audit import AuditDep
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseRead,
             responses=problem_responses(401, 403, 413, 422))
async def create_case(
    body: CaseCreate, session: SessionDep, actor: CaseWorker, vault: VaultDep,
    languages: LanguagesDep, response: Response, audit: AuditDep,
) -> CaseRead:
    case = await service.create_case(session, data=body, actor=actor, vault=vault,
                                     languages=languages)
    await audit.record(AuditAction.case_created, case.id)
    response.headers["ETag"] = etag(case.version)
    response.headers["Location"] = f"/v1/cases/{case.id}"
    return service.case_read(case, vault)


@router.get("", response_model=CaseList, responses=problem_responses(401, 403, 422))
async def list_cases(
    session: SessionDep, actor: CaseWorker, vault: VaultDep, audit: AuditDep,
    status: CaseStatus | None = None,
    caseworker: Caseworker | None = None,
    review_due_before: date | None = None,
    reference: Annotated[Text | None, Query(max_length=16,
                                            description="letters or keypad form")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CaseList:
    """The caller's caseload (a supervisor's: every case), filtered."""
    cases, next_cursor = await service.list_cases(
        session, actor=actor, status=status, caseworker=caseworker,
        review_due_before=review_due_before, reference=reference, cursor=cursor, limit=limit,
    )
    await audit.record(AuditAction.case_listed, *(case.id for case in cases))
    return CaseList(items=[service.case_read(c, vault) for c in cases], next_cursor=next_cursor)


@router.get("/{case_id}", response_model=CaseRead,
            responses=problem_responses(401, 403, 404, 422))
async def get_case(
    case_id: uuid.UUID, session: SessionDep, actor: CaseWorker, vault: VaultDep,
    response: Response, audit: AuditDep,
) -> CaseRead:
    case = await service.get_case(session, case_id=case_id, actor=actor)
    await audit.record(AuditAction.case_read, case.id)
    response.headers["ETag"] = etag(case.version)
    return service.case_read(case, vault)


@router.patch("/{case_id}", response_model=CaseRead,
              responses=problem_responses(401, 403, 404, 409, 412, 413, 422))
async def update_case(
    case_id: uuid.UUID, body: CasePatch, session: SessionDep, actor: CaseWorker,
    vault: VaultDep, languages: LanguagesDep, if_match: IfMatch, response: Response,
    audit: AuditDep,
) -> CaseRead:
    case = await service.update_case(session, case_id=case_id, patch=body, actor=actor,
                                     if_match=if_match, vault=vault, languages=languages)
    await audit.record(AuditAction.case_updated, case.id)
    response.headers["ETag"] = etag(case.version)
    return service.case_read(case, vault)


@router.post("/{case_id}/transitions", response_model=CaseRead,
             responses=problem_responses(401, 403, 404, 409, 412, 413, 422))
async def transition_case(
    case_id: uuid.UUID, body: TransitionIn, session: SessionDep, actor: CaseWorker,
    vault: VaultDep, if_match: IfMatch, response: Response, audit: AuditDep,
) -> CaseRead:
    case = await service.transition_case(
        session, case_id=case_id, to=body.to, reason=body.reason, outcome=body.outcome,
        actor=actor, if_match=if_match,
    )
    await audit.record(AuditAction.case_transitioned, case.id)
    response.headers["ETag"] = etag(case.version)
    return service.case_read(case, vault)


@router.get("/{case_id}/history", response_model=list[HistoryEntry],
            responses=problem_responses(401, 403, 404, 422))
async def case_history(case_id: uuid.UUID, session: SessionDep,
                       actor: CaseWorker, audit: AuditDep) -> list[HistoryEntry]:
    """Transitions, edits and delegations, oldest first, each with its actor and role;
    edits name the fields changed and show values only for those not about the person."""
    await service.get_case(session, case_id=case_id, actor=actor)
    await audit.record(AuditAction.history_read, case_id)
    return await history.case_history(session, case_id=case_id)


@router.post("/{case_id}/delegations", status_code=status.HTTP_201_CREATED,
             response_model=DelegationRead,
             responses=problem_responses(401, 403, 404, 409, 413, 422))
async def delegate_case(case_id: uuid.UUID, body: DelegationIn, session: SessionDep,
                        actor: Supervisor, audit: AuditDep) -> DelegationRead:
    """Cover for leave (supervisors): ``to`` sees and changes the case up to and including
    ``until``. Again for the same caseworker: the new date and reason replace the old."""
    delegation = await delegations.delegate(session, case_id=case_id, data=body, actor=actor)
    await audit.record(AuditAction.delegation_created, case_id)
    return DelegationRead.model_validate(delegation)


@router.delete("/{case_id}/delegations/{delegation_id}",
               status_code=status.HTTP_204_NO_CONTENT,
               responses=problem_responses(401, 403, 404, 409, 422))
async def revoke_delegation(case_id: uuid.UUID, delegation_id: uuid.UUID,
                            session: SessionDep, actor: Supervisor,
                            audit: AuditDep) -> Response:
    """End a delegation now (supervisors); the history keeps that it was."""
    await delegations.revoke(session, case_id=case_id, delegation_id=delegation_id,
                             actor=actor)
    await audit.record(AuditAction.delegation_revoked, case_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{case_id}/erasure", response_model=CaseRead,
             responses=problem_responses(401, 403, 404, 413, 422))
async def erase_case(case_id: uuid.UUID, body: ErasureIn, session: SessionDep,
                     actor: Supervisor, vault: VaultDep, response: Response,
                     audit: AuditDep) -> CaseRead:
    """The right to erasure (supervisors): the person's names, date of birth, number and
    the free text about them go, in every service (``case.erased`` on the feed); the
    anonymous record stays. An active, suspended or resolved case is closed first, in
    the same request. Answers the case as it now is (personal fields null,
    ``erased_at`` set). Idempotent: erasing an erased case again answers the same
    200 and changes nothing (the first reason stands)."""
    case, erased = await erasure.erase_case(session, case_id=case_id, reason=body.reason,
                                            actor=actor)
    if erased:
        await audit.record(AuditAction.case_erased, case.id)
    response.headers["ETag"] = etag(case.version)
    return service.case_read(case, vault)
