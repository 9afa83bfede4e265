"""The reporting desk's view of a case's schedule: an officer (or a supervisor) finds
the case by its reference and reads its status and next window. The roles are the
registry's desk route's: a caseworker reads their caseload's windows in full through
``GET /v1/cases/{case_id}/checkins``, not here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from checkin import desk
from checkin.api.deps import DeskOfficer
from checkin.enums import AuditAction
from checkin.schemas import DeskCase, NextWindow
from shared.audit import AuditDep
from shared.db import SessionDep, utcnow
from shared.errors import problem_responses

router = APIRouter(prefix="/v1/desk", tags=["desk"])


@router.get("/cases", response_model=DeskCase, responses=problem_responses(401, 403, 404, 422))
async def find_case(
    session: SessionDep, _: DeskOfficer, audit: AuditDep,
    reference: Annotated[str, Query(min_length=1, max_length=16,
                                    description="letters (K7MR-4XP) or keypad form")],
) -> DeskCase:
    """The reference, status and next window of the case with this reference (either
    form); 404 if none has it, 422 naming ``reference`` if it has neither shape. A
    look-up that finds a case leaves ``desk.looked_up`` in the audit trail."""
    case = await desk.find_case(session, reference=reference)
    await audit.record(AuditAction.desk_looked_up, case.case_id)
    window = await desk.next_window(session, case=case, now=utcnow())
    return DeskCase(reference=case.reference, status=case.status,
                    next_window=NextWindow.of(window, case.timezone))
