from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from checkin import cases, pins
from checkin.api.deps import Caseworker, PolicyDep
from checkin.caseloads import require_in_caseload
from checkin.checkins import list_checkins
from checkin.enums import AuditAction
from checkin.schemas import CaseCheckins, PinIssued
from shared.audit import AuditDep
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.params import UTCInstant

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.post("/{case_id}/pin", status_code=status.HTTP_201_CREATED, response_model=PinIssued,
             responses=problem_responses(401, 403, 404, 422))
async def issue_pin(case_id: uuid.UUID, session: SessionDep, actor: Caseworker,
                    policy: PolicyDep, audit: AuditDep) -> PinIssued:
    """A new 6-digit PIN, shown this once. It replaces the old one and lifts a lock.
    A caseworker reaches only their caseload's cases; any other is a 404."""
    await require_in_caseload(session, case_id=case_id, principal=actor)
    pin = await pins.issue_pin(session, case_id=case_id, actor=actor.sub, key=policy.key)
    await audit.record(AuditAction.pin_issued, case_id)
    return PinIssued(pin=pin)


@router.get("/{case_id}/checkins", response_model=CaseCheckins,
            responses=problem_responses(401, 403, 404, 422))
async def case_checkins(case_id: uuid.UUID, session: SessionDep, caller: Caseworker,
                        audit: AuditDep,
                        since: UTCInstant | None = None, until: UTCInstant | None = None,
                        ) -> CaseCheckins:
    """Expected check-ins with their outcome, and unscheduled contacts. A caseworker
    reaches only their caseload's cases; any other is a 404."""
    await require_in_caseload(session, case_id=case_id, principal=caller)
    case = await cases.get_case(session, case_id=case_id)
    expected, checkins = await list_checkins(session, case_id=case_id, since=since,
                                                     until=until)
    await audit.record(AuditAction.checkins_read, case_id)
    return CaseCheckins.of(case, expected, checkins)  # type: ignore[arg-type]
