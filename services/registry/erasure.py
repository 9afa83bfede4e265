"""Retention and erasure: the person's data goes, the anonymous record of the case stays.

What erasure removes, in one transaction: the person's given and family names, date of
birth, phone ciphertext and lookup hash; the free-text reasons of the case's history
and delegations; and every earlier event about the case on the registry's change feed
(their snapshots carried the date of birth and the number). What stays: the case row
(reference, programme, vulnerabilities, status, outcome, caseworker, dates), the
person's sex, nationality and language, and the history's who-did-what-when without
reasons. The registry keeps no age (nothing of its own is summarised by age; checkin
keeps each window's age group, see ``checkin.erasure``).

An active, suspended or resolved case is closed first, in the same transaction: an
erased case is final. The case's version is bumped once, a history entry of kind
``erasure`` records who erased it, when and why, and ``case.erased`` is published, from
which checkin and notifications erase their copies.

Two ways in: a supervisor's ``POST /v1/cases/{id}/erasure`` (the right to erasure, with
a reason), and ``run_retention``, the scheduled job that erases every case ended more
than ``WAYMARK_RETENTION_DAYS`` ago. Erasing an erased case changes nothing and answers
as the first time did (idempotent). After the commit, ``shared.db.reclaim`` makes the
old values unreadable in the database files (SQLite checkpoint, PostgreSQL VACUUM)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from functools import partial

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import service
from registry.access import Actor
from registry.enums import AuditAction, CaseStatus, HistoryKind
from registry.events import CaseErased
from registry.models import (
    AuditEntry,
    AuditHead,
    Case,
    CaseFieldChange,
    CaseStatusChange,
    ChangeEvent,
)
from shared.audit import AuditTables, append
from shared.auth import Role
from shared.changefeed import publish
from shared.db import (
    after_commit,
    discard_after_commit,
    reclaim,
    run_after_commit,
    utcnow,
)

log = logging.getLogger("waymark.registry.erasure")

# Statuses from which retention runs: the case has ended.
ENDED = (CaseStatus.closed, CaseStatus.resolved)
# Every table an erasure writes to: reclaimed after the commit.
TABLES = ("people", "cases", "case_status_changes", "case_field_changes", "case_delegations",
          "change_events")
# What the ``erasure`` history entry names as erased (never the values).
ERASED_FIELDS = ["person.given_name", "person.family_name", "person.date_of_birth",
                 "person.phone", "history.reasons", "delegations.reasons"]
# The retention job acts as the service itself.
RETENTION_ACTOR = Actor(sub="registry-retention", role=Role.service)
AUDIT = AuditTables(entry=AuditEntry, head=AuditHead)
CLOSING_REASON = "closed to be erased"


async def erase_case(session: AsyncSession, *, case_id: uuid.UUID, reason: str,
                     actor: Actor) -> tuple[Case, bool]:
    """Erase the case's personal data (see the module docstring); ``(case, erased)``,
    ``erased`` false when it already was (nothing changes then). 404 for a case the
    actor cannot see."""
    case = await service.get_case(session, case_id=case_id, actor=actor, for_update=True)
    if case.erased_at is not None:
        return case, False
    await _erase(session, case, reason=reason, actor=actor)
    return case, True


async def _erase(session: AsyncSession, case: Case, *, reason: str, actor: Actor) -> None:
    """Erase ``case``, which the caller holds locked (FOR UPDATE) and is not erased."""
    now = utcnow()
    await service.claim_version(session, case, None)
    # Reasons are free text: whatever was written about the person goes with them.
    await session.execute(sa.update(CaseStatusChange).where(
        CaseStatusChange.case_id == case.id).values(reason=None)
        .execution_options(synchronize_session=False))
    await session.execute(sa.update(CaseFieldChange).where(
        CaseFieldChange.case_id == case.id).values(reason=None)
        .execution_options(synchronize_session=False))
    for delegation in case.delegations:
        delegation.reason = None
    if case.status != CaseStatus.closed:
        session.add(CaseStatusChange(
            case_id=case.id, from_status=case.status, to_status=CaseStatus.closed,
            outcome=case.outcome, reason=CLOSING_REASON, actor=actor.sub,
            actor_role=actor.role, at=now))
        case.status = CaseStatus.closed
    person = case.person
    person.given_name = person.family_name = person.date_of_birth = None
    person.phone_encrypted = person.phone_hash = None
    case.erased_at = now
    session.add(CaseFieldChange(
        case_id=case.id, kind=HistoryKind.erasure, fields=ERASED_FIELDS, reason=reason,
        actor=actor.sub, actor_role=actor.role, at=now))
    await session.flush()
    # Earlier snapshots of the case held the date of birth and the number: gone from the
    # feed. Consumers that read them already erase their copies on ``case.erased``.
    await session.execute(sa.delete(ChangeEvent).where(ChangeEvent.subject_id == str(case.id)))
    event = CaseErased(id=case.id, version=case.version, status=case.status,
                       outcome=case.outcome, erased_at=now)
    await publish(session, ChangeEvent, type=event.type.value, subject_id=str(case.id),
                  data=event.model_dump(mode="json"))
    after_commit(session, partial(reclaim, session.bind, TABLES), key="reclaim")


def _ended_at() -> sa.ScalarSelect[datetime]:
    """When the case's last transition happened: for an ended case, when it ended."""
    return (sa.select(sa.func.max(CaseStatusChange.at))
            .where(CaseStatusChange.case_id == Case.id).scalar_subquery())


async def erase_due(session: AsyncSession, *, now: datetime, retention: timedelta,
                    limit: int = 50) -> int:
    """Erase up to ``limit`` cases that ended (closed or resolved) more than
    ``retention`` before ``now``; returns how many (call until it returns 0). The cases
    are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas running the
    job at once each take other cases and none is erased twice; SQLite has one writer
    at a time, and the second finds them erased."""
    due = (await session.execute(
        sa.select(Case.id).where(Case.status.in_(ENDED), Case.erased_at.is_(None),
                                 _ended_at() <= now - retention)
        .order_by(Case.id).limit(limit).with_for_update(skip_locked=True))).scalars().all()
    for case_id in due:
        case = await session.get(Case, case_id)
        assert case is not None  # locked above
        await _erase(session, case, actor=RETENTION_ACTOR,
                     reason=f"retention period ended ({retention.days} days after the case ended)")
        await append(session, AUDIT, actor=RETENTION_ACTOR.sub, role=RETENTION_ACTOR.role,
                     action=AuditAction.case_erased, case_ids=[case_id])
    return len(due)


async def run_retention(sessionmaker: async_sessionmaker[AsyncSession], *,
                        retention: timedelta) -> int:
    """The retention job: erase every case due, a batch per transaction; logs and never
    raises (the next run tries again), and logs counts only."""
    total = 0
    try:
        while True:
            async with sessionmaker() as session:
                try:
                    async with session.begin():
                        done = await erase_due(session, now=utcnow(), retention=retention)
                except BaseException:
                    discard_after_commit(session)
                    raise
                await run_after_commit(session)
            total += done
            if done == 0:
                break
    except Exception as exc:
        log.error("retention job failed: %s", type(exc).__name__)
    if total:
        log.info("retention job: %d case(s) erased", total)
    return total

