"""Registry logic: plain functions over a session. Every write publishes an event on
the registry's change feed in the same transaction."""

from __future__ import annotations

import base64
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from registry import history
from registry import reference as refs
from registry.access import Actor
from registry.enums import CaseStatus, Outcome
from registry.events import CaseCreated, CaseEvent, CaseStatusChanged, CaseUpdated
from registry.models import Case, CaseStatusChange, ChangeEvent, Person, ReportingRequirement
from registry.schemas import (
    CaseCreate,
    CasePatch,
    CaseRead,
    DelegationRead,
    PersonRead,
    ReportingIn,
    ReportingRead,
)
from shared.auth import Role
from shared.changefeed import publish
from shared.crypto import PhoneVault
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from shared.params import UTCInstant

# The lifecycle. A closed case is final; a resolved one can be reopened (an appeal).
_S = CaseStatus
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    _S.active: frozenset({_S.suspended, _S.resolved, _S.closed}),
    _S.suspended: frozenset({_S.active, _S.resolved, _S.closed}),
    _S.resolved: frozenset({_S.active, _S.closed}),
    _S.closed: frozenset(),
}


def _check_language(language: str | None, languages: tuple[str, ...]) -> None:
    if language is not None and language not in languages:
        raise ValidationFailed.field(
            "person.preferred_language",
            f"no messages in this language yet; available: {', '.join(languages)}",
        )


def _assign_caseworker(requested: str | None, actor: Actor) -> str:
    if requested is None or requested == actor.sub:
        return actor.sub
    if actor.role != Role.supervisor:
        raise Forbidden("Only a supervisor assigns a case to another caseworker.")
    return requested


async def _new_reference(session: AsyncSession) -> tuple[str, str]:
    while True:  # 191 million codes: a clash is rare, so this loop almost never repeats
        reference, keypad = refs.new_reference()
        taken = await session.scalar(
            sa.select(sa.func.count()).select_from(Case).where(
                sa.or_(Case.reference == reference, Case.keypad_reference == keypad)
            )
        )
        if not taken:
            return reference, keypad


async def create_case(
    session: AsyncSession, *, data: CaseCreate, actor: Actor, vault: PhoneVault,
    languages: tuple[str, ...],
) -> Case:
    """Open a case, active from the start, and record its first history entry."""
    _check_language(data.person.preferred_language, languages)
    caseworker = _assign_caseworker(data.caseworker, actor)
    reference, keypad = await _new_reference(session)
    person_data = data.person.model_dump(exclude={"phone"})
    person = Person(**person_data, phone_encrypted=vault.encrypt(data.person.phone),
                    phone_hash=vault.lookup_hash(data.person.phone))
    case = Case(
        reference=reference, keypad_reference=keypad, person=person, programme=data.programme,
        vulnerabilities=list(data.vulnerabilities), caseworker=caseworker,
        review_due=data.review_due, delegations=[],
        reporting=ReportingRequirement(**data.reporting.model_dump()),
    )
    session.add(case)
    await session.flush()
    session.add(CaseStatusChange(case_id=case.id, to_status=CaseStatus.active,
                                 reason="case opened", actor=actor.sub,
                                 actor_role=actor.role))
    await publish_case(session, case, CaseCreated)
    return case


async def get_case(session: AsyncSession, *, case_id: uuid.UUID, actor: Actor,
                   for_update: bool = False) -> Case:
    """The case, if it is in ``actor``'s caseload; otherwise the same 404 as for an id
    no case has, so a caseworker learns nothing of cases that are not theirs."""
    # for_update: writers queue on the row, so a write without If-Match never loses a
    # race it did not ask to detect (412 is only for a stale If-Match).
    case = await session.get(Case, case_id, with_for_update=for_update or None)
    if case is None or not actor.sees(case):
        raise NotFound("No case with this id.")
    return case


async def find_by_reference(session: AsyncSession, *, reference: str) -> Case:
    """The case with this reference, in either form (letters or keypad digits, any
    case, spaces or dash); 404 when none has it or the check character fails."""
    canonical = refs.normalise(reference) or refs.normalise_keypad(reference)
    case = None if canonical is None else await session.scalar(sa.select(Case).where(
        sa.or_(Case.reference == canonical, Case.keypad_reference == canonical)))
    if case is None:
        raise NotFound("No case with this reference.")
    return case


def _encode_cursor(case: Case) -> str:
    raw = f"{case.created_at.isoformat()}|{case.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_INSTANT = TypeAdapter(UTCInstant)


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor names. Anything but a cursor this list handed out (bad
    base64 or UTF-8, a naive or out-of-range instant, no id) is a 422 naming
    ``cursor``, never a comparison the database cannot make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, case_id = raw.partition("|")
        return _INSTANT.validate_python(datetime.fromisoformat(created)), uuid.UUID(case_id)
    except ValueError:  # binascii.Error, UnicodeDecodeError, ValidationError among them
        raise ValidationFailed.field("cursor", "not a cursor this list handed out") from None


async def list_cases(
    session: AsyncSession, *, actor: Actor, status: CaseStatus | None = None,
    caseworker: str | None = None,
    review_due_before: date | None = None, reference: str | None = None,
    cursor: str | None = None, limit: int = 50,
) -> tuple[list[Case], str | None]:
    """Cases of ``actor``'s caseload oldest first, filtered; keyset pagination so pages
    stay stable under writes."""
    query = (sa.select(Case).where(actor.caseload()).order_by(Case.created_at, Case.id)
             .limit(limit + 1))
    if status:
        query = query.where(Case.status == status)
    if caseworker:
        query = query.where(Case.caseworker == caseworker)
    if review_due_before:
        query = query.where(Case.review_due < review_due_before)
    if reference:
        canonical = refs.normalise(reference) or refs.normalise_keypad(reference)
        if canonical is None:
            return [], None
        query = query.where(sa.or_(Case.reference == canonical,
                                   Case.keypad_reference == canonical))
    if cursor:
        created_at, case_id = _decode_cursor(cursor)
        query = query.where(sa.tuple_(Case.created_at, Case.id) > sa.tuple_(
            sa.literal(created_at, type_=Case.__table__.c.created_at.type),
            sa.literal(case_id, type_=Case.__table__.c.id.type)))
    cases = list((await session.execute(query)).scalars().all())
    next_cursor = _encode_cursor(cases[limit - 1]) if len(cases) > limit else None
    return cases[:limit], next_cursor


_STALE = ("The case changed since you read it (If-Match names another version): "
          "fetch it again, then retry.")


def _check_version(case: Case, if_match: frozenset[int] | None) -> None:
    if if_match is not None and case.version not in if_match:
        raise PreconditionFailed(_STALE)


async def claim_version(session: AsyncSession, case: Case,
                         if_match: frozenset[int] | None) -> None:
    """Optimistic concurrency: bump the version only if it is still one the client
    accepts (``None``: whatever it is now). The conditional UPDATE makes two racing
    writers with the same ETag end with one success and one 412, even when both passed
    the check in memory."""
    _check_version(case, if_match)
    expected = frozenset({case.version}) if if_match is None else if_match
    result = await session.execute(
        sa.update(Case).where(Case.id == case.id, Case.version.in_(expected))
        .values(version=Case.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise PreconditionFailed(_STALE)
    await session.refresh(case, ["version", "updated_at"])


async def update_case(
    session: AsyncSession, *, case_id: uuid.UUID, patch: CasePatch, actor: Actor,
    if_match: frozenset[int] | None, vault: PhoneVault, languages: tuple[str, ...],
) -> Case:
    """Apply a partial update. The reporting requirement is merged, then validated whole.
    A patch whose values are those the case already has keeps the version, records
    nothing and publishes nothing; any other is kept in the history with its actor."""
    case = await get_case(session, case_id=case_id, actor=actor, for_update=True)
    if case.status == CaseStatus.closed:
        raise Conflict("A closed case cannot be changed.")
    changes = patch.model_dump(exclude_unset=True)
    if "caseworker" in changes and changes["caseworker"] != case.caseworker:
        if actor.role != Role.supervisor:
            raise Forbidden("Only a supervisor reassigns a case.")
    reporting = None
    if patch.reporting is not None:
        current = ReportingRead.model_validate(case.reporting).model_dump()
        merged = current | patch.reporting.model_dump(exclude_unset=True)
        try:
            reporting = ReportingIn.model_validate(merged)
        except ValueError as exc:
            errors = [{"field": "reporting." + ".".join(str(p) for p in e["loc"]),
                       "message": e["msg"].removeprefix("Value error, ")}
                      for e in exc.errors()]  # type: ignore[attr-defined]
            raise ValidationFailed("Invalid input: reporting", errors=errors) from None
    if patch.person is not None:
        _check_language(patch.person.preferred_language, languages)
    before = history.snapshot(case)
    for field in ("programme", "vulnerabilities", "review_due", "caseworker"):
        if field in changes and changes[field] is not None:
            setattr(case, field, changes[field])
    for field, value in changes.get("person", {}).items():
        if value is None:
            continue
        if field == "phone":
            if vault.lookup_hash(value) == case.person.phone_hash:
                continue  # the same number: a new ciphertext would be a change of nothing
            case.person.phone_encrypted = vault.encrypt(value)
            case.person.phone_hash = vault.lookup_hash(value)
        else:
            setattr(case.person, field, value)
    if reporting is not None:
        for field, value in reporting.model_dump().items():
            setattr(case.reporting, field, value)
    if history.snapshot(case) == before:
        _check_version(case, if_match)
        return case
    await claim_version(session, case, if_match)
    history.record_update(session, case=case, before=before, actor=actor)
    await session.flush()
    await publish_case(session, case, CaseUpdated)
    return case


async def transition_case(
    session: AsyncSession, *, case_id: uuid.UUID, to: CaseStatus, reason: str,
    outcome: Outcome | None,
    actor: Actor, if_match: frozenset[int] | None,
) -> Case:
    """Move a case along its lifecycle; an illegal move is a 409 and changes nothing."""
    case = await get_case(session, case_id=case_id, actor=actor, for_update=True)
    if to not in TRANSITIONS[case.status]:
        allowed = ", ".join(sorted(TRANSITIONS[case.status])) or "none (closed is final)"
        raise Conflict(f"A case that is {case.status} cannot become {to}. Allowed: {allowed}.")
    if to == CaseStatus.resolved and outcome is None:
        raise ValidationFailed.field("outcome", "a resolved case needs an outcome")
    if to != CaseStatus.resolved and outcome is not None:
        raise ValidationFailed.field("outcome", "only a resolved case has an outcome")
    await claim_version(session, case, if_match)
    session.add(CaseStatusChange(case_id=case.id, from_status=case.status, to_status=to,
                                 outcome=outcome, reason=reason, actor=actor.sub,
                                 actor_role=actor.role))
    case.status = to
    if to == CaseStatus.resolved:
        case.outcome = outcome
    elif to == CaseStatus.active:
        case.outcome = None
    await session.flush()
    await publish_case(session, case, CaseStatusChanged)
    return case


def case_read(case: Case, vault: PhoneVault) -> CaseRead:
    person = case.person
    return CaseRead(
        id=case.id, reference=case.reference, keypad_reference=case.keypad_reference,
        status=case.status, outcome=case.outcome, programme=case.programme,
        vulnerabilities=case.vulnerabilities, caseworker=case.caseworker,
        delegations=[DelegationRead.model_validate(d) for d in case.current_delegations],
        review_due=case.review_due, version=case.version, created_at=case.created_at,
        updated_at=case.updated_at, erased_at=case.erased_at,
        person=PersonRead(
            given_name=person.given_name, family_name=person.family_name,
            date_of_birth=person.date_of_birth, sex=person.sex, nationality=person.nationality,
            preferred_language=person.preferred_language,
            phone=(None if person.phone_encrypted is None
                   else vault.decrypt(person.phone_encrypted)),
        ),
        reporting=ReportingRead.model_validate(case.reporting),
    )


async def publish_case(session: AsyncSession, case: Case, event: type[CaseEvent]) -> None:
    """Append ``event`` (the case as it now is) to the feed, in the caller's transaction."""
    payload = event.model_validate(case)
    await publish(session, ChangeEvent, type=event.type.value, subject_id=str(case.id),
                  data=payload.model_dump(mode="json"))
