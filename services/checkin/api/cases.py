from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from starlette.concurrency import run_in_threadpool

from checkin import cases, pins, statements
from checkin.api.deps import Caseworker, PolicyDep
from checkin.caseloads import require_in_caseload
from checkin.checkins import list_checkins
from checkin.enums import AuditAction, StatementFormat
from checkin.schemas import CaseCheckins, PinIssued
from shared.audit import AuditDep
from shared.db import SessionDep, utcnow
from shared.errors import Gone, problem_responses
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


@router.get(
    "/{case_id}/statement", response_class=Response,
    responses={200: {"description": "The statement, in the format asked for.",
                     "content": {"text/html": {"schema": {"type": "string"}},
                                 "text/csv": {"schema": {"type": "string"}},
                                 "application/pdf": {"schema": {"type": "string",
                                                                "format": "binary"}}}},
               **problem_responses(401, 403, 404, 410, 422, 503)})
async def statement(
    case_id: uuid.UUID, session: SessionDep, caller: Caseworker, audit: AuditDep,
    format: Annotated[StatementFormat | None, Query(
        description="csv, html or pdf; without it, the Accept header decides (text/csv, "
                    "text/html, application/pdf), and HTML when it names none")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The person's attendance statement (``checkin.statements``): every expected
    check-in with its outcome, excusals with their reasons, check-ins with their
    channel, in the person's language beside English, with the case reference and the
    moment it was produced. Printable HTML by default. Producing one is audited. A
    caseworker reaches only their caseload's cases (any other is a 404); an erased
    case's statement is gone (410): its reasons went with the person's data."""
    await require_in_caseload(session, case_id=case_id, principal=caller)
    case = await cases.get_case(session, case_id=case_id)
    assert case is not None  # get_case raised NotFound otherwise
    if case.erased_at is not None:
        raise Gone("The case was erased: no statement can be produced for it.")
    chosen = statements.choose_format(format, accept)
    record = await statements.gather(session, case=case, now=utcnow())
    body: str | bytes
    if chosen == StatementFormat.csv:
        body = statements.to_csv(record)
    else:
        body = statements.to_html(record)
        if chosen == StatementFormat.pdf:
            body = await run_in_threadpool(statements.to_pdf, body)
    await audit.record(AuditAction.statement_produced, case_id)
    name = f"statement_{case.reference}_{record.produced_at.date().isoformat()}.{chosen}"
    media = statements.MEDIA_TYPES[chosen]
    return Response(body, media_type=media if chosen == StatementFormat.pdf
                    else f"{media}; charset=utf-8", headers={
        "Content-Disposition": f'{"inline" if chosen == StatementFormat.html else "attachment"}; '
                               f'filename="{name}"',
        # Personal data: kept by no cache on the way; one URL, three representations.
        "Cache-Control": "no-store", "Vary": "Accept"})
