"""Erasure in checkin: what it holds about a person goes when the registry's feed says
``case.erased``; the anonymous record stays, so attendance summaries answer as before.

What goes: the case copy's number hash and date of birth; the PIN; wrong-PIN records
and locks of the case, and those a stranger's route made from the person's number
(``route`` is that number's keyed hash); keypad-call state of the case; the stored
bodies of webhook and ``Idempotency-Key`` answers that read the case
(``Reply.subjects``); excusal reasons, follow-up details and notes, and the
reporting centre typed for in-person check-ins (free text); on checkin's own change
feed, the excusal reasons of the case's ``expected_checkin.outcome`` events and the
``contact.opted_*`` events that carry the number's hash.

What stays: expected check-ins with their outcomes and times, check-ins (channel,
timing, time), follow-ups (kind, status, who and when), the copy's programme, sex,
nationality and vulnerabilities, and, on each window, the age group the person was in
when it opened (``ExpectedCheckin.age_group``), computed before the date of birth goes.

A number several live cases share (a family phone) is also theirs: while another case
not erased holds it, the records keyed by its hash alone (routes, opt-out events) stay
theirs and are left alone.

Idempotent and safe out of order: ``case.erased`` applied again, late, after the
service was down, or for a case checkin never saw erases what there is and nothing
more. A case copy is never made from it."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.cases import get_case
from checkin.enums import AuditAction, CaseStatus, EventType
from checkin.models import (
    AuditEntry,
    AuditHead,
    CaseCopy,
    ChangeEvent,
    Checkin,
    ExpectedCheckin,
    FollowUp,
    Pin,
    PinFailure,
    PinLock,
    Reply,
    VoiceCall,
)
from checkin.rollups import NONE, age_group
from checkin.schedule import plan_schedule
from shared.audit import AuditTables, append
from shared.auth import Role
from shared.db import after_commit, reclaim, utcnow

# Who erases here: the registry's feed, read by this service.
FEED_ACTOR = "registry-feed"

# Every table an erasure writes to: reclaimed after the commit (``shared.db.reclaim``).
TABLES = ("case_copies", "expected_checkins", "attendance_rollups", "checkins", "pins",
          "pin_failures", "pin_locks", "voice_calls", "replies", "follow_ups", "change_events")
# What an erased case's in-person windows count under as their reporting centre.
ERASED_CENTRE = "erased"
_OPT_EVENTS = (EventType.contact_opted_out, EventType.contact_opted_in)


async def erase_case(session: AsyncSession, *, case_id: uuid.UUID, version: int,
                     status: CaseStatus) -> None:
    """Erase what checkin holds about the person of ``case_id`` (see the module
    docstring), in the caller's transaction; the copy takes ``version`` and ``status``
    unless it is newer already."""
    now = utcnow()
    copy = await get_case(session, case_id=case_id, for_update=True, missing_ok=True)
    phone_hash = None
    first = copy is not None and copy.erased_at is None
    if copy is not None:
        phone_hash = copy.phone_hash
        if copy.version < version:
            copy.version, copy.status = version, status
        if copy.status != CaseStatus.active:  # pending windows still to come are withdrawn
            await plan_schedule(session, case=copy, now=now, horizon=timedelta(0))
        if copy.date_of_birth is not None:
            await _keep_age_groups(session, case_id=case_id, date_of_birth=copy.date_of_birth,
                                   timezone=copy.timezone)
        await _forget_centres(session, case_id=case_id)
        copy.phone_hash = copy.date_of_birth = None
        copy.erased_at = copy.erased_at or now
        copy.updated_at = now
        await session.flush()
    shared = phone_hash is not None and bool(await session.scalar(
        sa.select(sa.func.count()).select_from(CaseCopy).where(
            CaseCopy.phone_hash == phone_hash, CaseCopy.case_id != case_id,
            CaseCopy.erased_at.is_(None))))
    number = phone_hash if phone_hash is not None and not shared else None

    await session.execute(sa.delete(Pin).where(Pin.case_id == case_id))
    for table in (PinFailure, PinLock):
        mine = table.case_id == case_id
        await session.execute(sa.delete(table).where(
            mine if number is None else sa.or_(mine, table.route == number)))
    await session.execute(sa.delete(VoiceCall).where(VoiceCall.case_id == case_id))
    await session.execute(sa.update(Reply).where(Reply.subjects.contains(str(case_id)))
                          .values(body=None, subjects=None))
    await session.execute(sa.update(ExpectedCheckin).where(ExpectedCheckin.case_id == case_id)
                          .values(excusal_reason=None))
    await session.execute(sa.update(Checkin).where(Checkin.case_id == case_id)
                          .values(reporting_centre=None))
    await session.execute(sa.update(FollowUp).where(FollowUp.case_id == case_id)
                          .values(detail="", note=None))
    await _scrub_feed(session, case_id=case_id, number=number)
    if first:  # the trail shows when this service's copy went, as the registry's does
        await append(session, AuditTables(entry=AuditEntry, head=AuditHead),
                     actor=FEED_ACTOR, role=Role.service, action=AuditAction.case_erased,
                     case_ids=[case_id])
    after_commit(session, partial(reclaim, session.bind, TABLES), key="reclaim")


async def _keep_age_groups(session: AsyncSession, *, case_id: uuid.UUID,
                           date_of_birth: date, timezone: str) -> None:
    """Write on each window the age group it counts in, where it is not written yet
    (windows are stamped when planned: only rows older than that need it)."""
    rows = (await session.execute(sa.select(ExpectedCheckin).where(
        ExpectedCheckin.case_id == case_id, ExpectedCheckin.age_group.is_(None)))).scalars()
    for row in rows:
        row.age_group = age_group(date_of_birth, row.opens_at.astimezone(ZoneInfo(timezone)).date())


async def _forget_centres(session: AsyncSession, *, case_id: uuid.UUID) -> None:
    """The reporting centre is typed freely and may say something of the person: the
    windows' copy goes too, and they count under ``erased`` from then on (the one
    dimension a summary answers differently after an erasure). Through the ORM, so the
    rollups follow (``checkin.rollups``)."""
    rows = (await session.execute(sa.select(ExpectedCheckin).where(
        ExpectedCheckin.case_id == case_id,
        ExpectedCheckin.reporting_centre.not_in((NONE, ERASED_CENTRE))))).scalars()
    for row in rows:
        row.reporting_centre = ERASED_CENTRE


async def _scrub_feed(session: AsyncSession, *, case_id: uuid.UUID, number: str | None) -> None:
    """Checkin's own feed: excusal reasons of the case's outcomes go (consumers do not
    read them); opt-out events carrying the number's hash are deleted (notifications
    erases its opt-out for the number on ``case.erased`` too)."""
    # The payload as text holds the case id: a filter both databases run on JSON.
    text = sa.cast(ChangeEvent.data, sa.Text)
    outcomes = (await session.execute(sa.select(ChangeEvent).where(
        ChangeEvent.type == EventType.expected_checkin_outcome,
        text.contains(str(case_id))))).scalars()
    for event in outcomes:
        if event.data.get("case_id") == str(case_id) and event.data.get("excusal_reason"):
            event.data = {**event.data, "excusal_reason": None}
    if number is not None:
        await session.execute(sa.delete(ChangeEvent).where(
            ChangeEvent.type.in_(_OPT_EVENTS), text.contains(number)))
