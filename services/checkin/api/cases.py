from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status

from checkin import cases, pins
from checkin.api.deps import Caseworker, PolicyDep
from checkin.checkins import list_checkins
from checkin.schemas import CaseCheckins, PinIssued
from shared.db import SessionDep

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.post("/{case_id}/pin", status_code=status.HTTP_201_CREATED, response_model=PinIssued)
async def issue_pin(case_id: uuid.UUID, session: SessionDep, actor: Caseworker,
                    policy: PolicyDep) -> PinIssued:
    """A new 6-digit PIN, shown this once. It replaces the old one and lifts a lock."""
    pin = await pins.issue_pin(session, case_id=case_id, actor=actor.sub, key=policy.key)
    return PinIssued(pin=pin)


@router.get("/{case_id}/checkins", response_model=CaseCheckins)
async def case_checkins(case_id: uuid.UUID, session: SessionDep, _: Caseworker,
                        since: datetime | None = None, until: datetime | None = None,
                        ) -> CaseCheckins:
    """Expected check-ins with their outcome, and unscheduled contacts."""
    case = await cases.get_case(session, case_id=case_id)
    expected, checkins = await list_checkins(session, case_id=case_id, since=since,
                                                     until=until)
    return CaseCheckins.of(case, expected, checkins)  # type: ignore[arg-type]
