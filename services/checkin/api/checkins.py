from __future__ import annotations

import hashlib
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import JSONResponse

from checkin import cases, checkins, desk, outcomes, replies
from checkin.api.deps import Caseworker, Officer
from checkin.caseloads import covers, require_in_caseload
from checkin.enums import AuditAction, CaseStatus, Channel
from checkin.schemas import (
    CheckinRead,
    ExcusalIn,
    ExpectedCheckinRead,
    InPersonCheckin,
    InPersonCheckinRead,
    NextWindow,
)
from shared.audit import AuditDep
from shared.auth import Role
from shared.db import SessionDep, utcnow
from shared.errors import Conflict, NotFound, problem_responses

router = APIRouter(tags=["check-ins"])


@router.post("/v1/checkins", status_code=status.HTTP_201_CREATED,
             response_model=InPersonCheckinRead,
             responses={200: {"description": "The same check-in, already recorded"},
                        **problem_responses(401, 403, 404, 409, 413, 422)})
async def check_in_person(
    body: InPersonCheckin, session: SessionDep, officer: Officer, audit: AuditDep,
    # Printable ASCII only: the key is stored, and a header can carry any byte.
    idempotency_key: Annotated[str | None, Header(max_length=100, pattern=r"^[!-~]+$")] = None,
) -> InPersonCheckinRead | Response:
    """Record an in-person check-in; the time is the server's. Sending it again (the same
    ``Idempotency-Key``, or the same case within a minute) records nothing new. A key
    belongs to its sender and this endpoint: the same key with a different body is a
    422, and one racing its twin a 409, so no request is ever answered with another
    case's check-in. The answer carries ``next_window``, the one after the window
    just attended (``checkin.desk.next_window``), so the officer can tell the person
    when to come next."""
    key = request_hash = None
    if idempotency_key:
        key = replies.request_key(endpoint="POST /v1/checkins", actor=officer.sub,
                                  idempotency_key=idempotency_key)
        request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        if (earlier := await replies.earlier_request(
                session, key=key, request_hash=request_hash)) is not None:
            return Response(earlier.body, status_code=earlier.status_code,
                            media_type=earlier.media_type)
    if body.case_id is not None:
        case = await cases.get_case(session, case_id=body.case_id, for_update=True,
                                      missing_ok=True)
    else:
        case = await cases.case_by_reference(session, reference=body.reference or "",
                                               for_update=True)
    now = utcnow()
    # The desk (officers, supervisors) records for anyone at the counter; a caseworker
    # only within their caseload, and any other case is as unknown as a missing one.
    if case is None or not (officer.has(Role.officer, Role.supervisor)
                            or covers(case, officer.sub, now.date())):
        raise NotFound("No such case.")
    if case.status != CaseStatus.active:
        raise Conflict(f"The case is {case.status}: no check-in is expected.")
    recorded = await checkins.record_checkin(
        session, case=case, channel=Channel.in_person, now=now,
        reporting_centre=body.reporting_centre, identity_confirmed_by=body.identity_confirmed_by,
        recorded_by=officer.sub)
    await audit.record(AuditAction.checkin_recorded, case.case_id)
    # Looked up anew rather than ``recorded.next`` (the next to open): a window open
    # now besides the one just settled still comes first.
    upcoming = await desk.next_window(session, case=case, now=now)
    read = InPersonCheckinRead(
        **CheckinRead.of(recorded.checkin).model_dump(),
        next_window=NextWindow.of(upcoming, case.timezone))
    code = status.HTTP_200_OK if recorded.duplicate else status.HTTP_201_CREATED
    if key and request_hash:
        await replies.store_request(session, key=key, request_hash=request_hash,
                                    body=read.model_dump_json(), status_code=code)
    return JSONResponse(read.model_dump(mode="json"), status_code=code)


@router.post("/v1/expected-checkins/{expected_id}/excusal", response_model=ExpectedCheckinRead,
             responses=problem_responses(401, 403, 404, 409, 413, 422))
async def excuse(expected_id: uuid.UUID, body: ExcusalIn, session: SessionDep,
                 actor: Caseworker, audit: AuditDep) -> ExpectedCheckinRead:
    """Excuse a pending or missed check-in, with a reason (409 if the person attended).
    A caseworker reaches only their caseload's windows; any other is a 404."""
    window = await outcomes.get_expected(session, expected_id=expected_id)
    await require_in_caseload(session, case_id=window.case_id, principal=actor,
                              missing=outcomes.NO_SUCH_WINDOW)
    expected = await outcomes.excuse(session, expected_id=expected_id, reason=body.reason,
                                    actor=actor.sub)
    await audit.record(AuditAction.expected_checkin_excused, expected.case_id)
    case = await cases.get_case(session, case_id=expected.case_id)
    return ExpectedCheckinRead.of(expected, ZoneInfo(case.timezone), None)  # type: ignore[union-attr]
