"""The case's history: transitions (``CaseStatusChange``) and every other write
(``CaseFieldChange``: a ``PATCH`` or a delegation), each with its actor, the role they
wrote as, and when, read back as one list in time order.

What a field change keeps: the name of every field that changed (``person.phone``,
``reporting.rrule`` ...) and, only for fields that describe how the case is run rather
than the person, the value before and after (``SHOWN``). The person's names, date of
birth, sex, nationality, language, phone and vulnerabilities are named, never valued:
the history is kept as long as the case and must not become a second copy of what the
person asked to correct, nor outlive an erasure of it."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from registry.access import Actor
from registry.enums import HistoryKind
from registry.models import Case, CaseFieldChange, CaseStatusChange
from registry.schemas import HistoryEntry, ReportingRead

# Fields whose values the history shows: they are about the case's administration
# (who runs it, under which programme, when it is reviewed, what reporting it
# requires), not about the person. Everything else is named only.
SHOWN = frozenset({"programme", "review_due", "caseworker"} | {
    f"reporting.{name}" for name in ReportingRead.model_fields})


def snapshot(case: Case) -> dict[str, Any]:
    """Every field a ``PATCH`` can change, flattened (``person.given_name``), as JSON
    values; the phone by its lookup hash, so no plaintext number is held here."""
    person = case.person
    values: dict[str, Any] = {
        "programme": case.programme, "vulnerabilities": sorted(case.vulnerabilities),
        "review_due": case.review_due.isoformat(), "caseworker": case.caseworker,
        "person.phone": person.phone_hash,
    }
    for name in ("given_name", "family_name", "date_of_birth", "sex", "nationality",
                 "preferred_language"):
        values[f"person.{name}"] = str(getattr(person, name))
    reporting = ReportingRead.model_validate(case.reporting).model_dump(mode="json")
    values |= {f"reporting.{name}": value for name, value in reporting.items()}
    return values


def record_update(session: AsyncSession, *, case: Case, before: dict[str, Any],
                  actor: Actor) -> bool:
    """Record the fields a ``PATCH`` changed (``before`` is ``snapshot`` taken before
    it); ``False`` when no field's value actually changed, and nothing is recorded."""
    after = snapshot(case)
    fields = sorted(name for name in after if after[name] != before[name])
    if not fields:
        return False
    session.add(CaseFieldChange(
        case_id=case.id, kind=HistoryKind.update, fields=fields, actor=actor.sub,
        actor_role=actor.role,
        shown={name: {"from": before[name], "to": after[name]}
               for name in fields if name in SHOWN}))
    return True


def record_delegation(session: AsyncSession, *, case: Case, delegate: str,
                      before: str | None, after: str | None, reason: str | None,
                      actor: Actor) -> None:
    """Record a delegation to ``delegate`` made, extended or revoked: ``before`` and
    ``after`` are its last day (ISO dates), ``None`` where there was or is none. Who
    covers a case, and until when, is administration: shown."""
    session.add(CaseFieldChange(
        case_id=case.id, kind=HistoryKind.delegation, fields=["delegations"],
        shown={f"delegations.{delegate}": {"from": before, "to": after}},
        reason=reason, actor=actor.sub, actor_role=actor.role))


async def case_history(session: AsyncSession, *, case_id: uuid.UUID) -> list[HistoryEntry]:
    """Transitions and field changes of one case, oldest first (ties: transitions
    first, then in the order they were written)."""
    transitions = (await session.execute(
        sa.select(CaseStatusChange).where(CaseStatusChange.case_id == case_id))).scalars()
    changes = (await session.execute(
        sa.select(CaseFieldChange).where(CaseFieldChange.case_id == case_id))).scalars()
    entries = [(row.at, 0, row.id or 0, HistoryEntry(
        kind=HistoryKind.transition, at=row.at, actor=row.actor, actor_role=row.actor_role,
        from_status=row.from_status, to_status=row.to_status, outcome=row.outcome,
        reason=row.reason)) for row in transitions]
    entries += [(row.at, 1, row.id or 0, HistoryEntry(
        kind=row.kind, at=row.at, actor=row.actor, actor_role=row.actor_role,
        reason=row.reason, fields=row.fields, changes=row.shown)) for row in changes]
    return [entry for *_, entry in sorted(entries, key=lambda e: e[:3])]
