"""The reporting desk's view: an officer finds a case by its reference (letters or
keypad form) to confirm who is at the counter. No list, no search by name or number.

The next window is not the registry's to say (checkin owns the schedule): the desk
reads it from checkin's ``GET /v1/desk/cases?reference=`` (the same roles; it answers
the reference, status and next window), and records the in-person check-in with
checkin's ``POST /v1/checkins``, whose answer names the window after it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from registry import service
from registry.api.deps import DeskOfficer
from registry.enums import AuditAction
from registry.schemas import DeskCase, Text
from shared.audit import AuditDep
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1/desk", tags=["desk"])


@router.get("/cases", response_model=DeskCase, responses=problem_responses(401, 403, 404, 422))
async def find_case(
    session: SessionDep, _: DeskOfficer, audit: AuditDep,
    reference: Annotated[Text, Query(min_length=1, max_length=16,
                                     description="letters (K7MR-4XP) or keypad form")],
) -> DeskCase:
    """Given name, the family name's initial, the reference and the status of the case
    with this reference (officers, supervisors); 404 if none has it."""
    case = await service.find_by_reference(session, reference=reference)
    await audit.record(AuditAction.desk_looked_up, case.id)
    family = case.person.family_name  # None once the case is erased
    return DeskCase(id=case.id, reference=case.reference, given_name=case.person.given_name,
                    family_initial=family[:1].upper() if family else None, status=case.status)
