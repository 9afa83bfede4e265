from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from notifications.caseloads import require_in_caseload
from notifications.enums import AuditAction
from notifications.listing import list_notifications
from notifications.schemas import NotificationList, NotificationRead
from shared.audit import AuditDep
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1/cases", tags=["cases"])
Caseworker = Annotated[Principal, require_roles(Role.caseworker, Role.supervisor)]


@router.get("/{case_id}/notifications", response_model=NotificationList,
            responses=problem_responses(401, 403, 404, 422))
async def case_notifications(case_id: uuid.UUID, session: SessionDep, caller: Caseworker,
                             audit: AuditDep,
                             limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                             ) -> NotificationList:
    """The case's reminders, latest first: planned, sent, cancelled or failed, with the
    text as sent and its delivery status. A caseworker sees only their caseload's cases
    (assigned or delegated); any other case is a 404."""
    await require_in_caseload(session, case_id=case_id, principal=caller)
    rows = await list_notifications(session, case_id=case_id, limit=limit)
    await audit.record(AuditAction.notifications_read, case_id)
    return NotificationList(case_id=case_id,
                            items=[NotificationRead.model_validate(r) for r in rows])
