"""Outcomes no check-in settles: missed ones (with a follow-up, never a sanction),
excusals by a caseworker, and outages, which excuse what the system caused."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.enums import ATTENDED, NOT_DELIVERED, FollowUpKind, OutageChannel, Outcome
from checkin.events import ExpectedCheckinOutcome, OutageDeclared, publish_events
from checkin.follow_ups import close_follow_ups_of, open_follow_up
from checkin.models import CaseCopy, ExpectedCheckin, FollowUp, Outage, PinLock
from shared.db import utcnow
from shared.errors import Conflict, NotFound

NO_SUCH_WINDOW = "No such expected check-in."


async def get_expected(session: AsyncSession, *, expected_id: uuid.UUID) -> ExpectedCheckin:
    """The expected check-in, locked for the change to come, or ``NotFound``."""
    expected = await session.get(ExpectedCheckin, expected_id, with_for_update=True)
    if expected is None:
        raise NotFound(NO_SUCH_WINDOW)
    return expected


async def excuse(session: AsyncSession, *, expected_id: uuid.UUID, reason: str,
                 actor: str) -> ExpectedCheckin:
    """Excuse a pending or missed check-in, before or after its window."""
    expected = await get_expected(session, expected_id=expected_id)
    if expected.status in ATTENDED:
        raise Conflict("The person checked in for this one; there is nothing to excuse.")
    was_missed = expected.status == Outcome.missed
    expected.status, expected.excusal_reason, expected.excused_by = Outcome.excused, reason, actor
    expected.decided_at = utcnow()
    await publish_events(session, ExpectedCheckinOutcome.of(expected))
    if was_missed:  # the caseworker has dealt with it: its follow-up is done too
        await close_follow_ups_of(session, expected, actor=actor, note=f"Excused: {reason}")
    await session.flush()
    return expected


def _covering(outages: Sequence[Outage], expected: ExpectedCheckin,
              channels: Sequence[str]) -> Outage | None:
    for outage in outages:
        if (outage.channel == OutageChannel.all or outage.channel in channels) and \
                outage.starts_at <= expected.grace_ends_at and outage.ends_at >= expected.opens_at:
            return outage
    return None


def _excuse_for_outage(expected: ExpectedCheckin, outage: Outage, now: datetime) -> None:
    expected.status, expected.outage_id, expected.decided_at = Outcome.excused, outage.id, now
    expected.excusal_reason = f"Service outage ({outage.channel}): {outage.reason}"
    expected.excused_by = "system"


LOCKED_OUT = "Locked out: telephone and SMS check-in was paused after wrong PINs when the window closed."


async def _locked_out(session: AsyncSession, rows: Sequence[ExpectedCheckin],
                      ) -> dict[uuid.UUID, list[PinLock]]:
    """The person's own locks (not a stranger's route) that may cover these windows'
    last moments, by case."""
    locks: dict[uuid.UUID, list[PinLock]] = {}
    for lock in (await session.execute(sa.select(PinLock).where(
            PinLock.case_id.in_({r.case_id for r in rows}), PinLock.route.is_(None),
            PinLock.starts_at <= max(r.grace_ends_at for r in rows),
            PinLock.ends_at >= min(r.grace_ends_at for r in rows)))).scalars():
        locks.setdefault(lock.case_id, []).append(lock)
    return locks


async def _excuse_locked_out(session: AsyncSession, expected: ExpectedCheckin, case: CaseCopy,
                             now: datetime) -> None:
    """Excused, never missed, for being locked out; the lock's follow-up says so."""
    expected.status, expected.decided_at = Outcome.excused, now
    expected.excusal_reason, expected.excused_by = LOCKED_OUT, "system"
    follow_up = (await session.execute(sa.select(FollowUp).where(
        FollowUp.case_id == expected.case_id, FollowUp.kind == FollowUpKind.pin_locked,
        FollowUp.opened_at <= expected.grace_ends_at)
        .order_by(FollowUp.opened_at.desc()).limit(1).with_for_update())).scalar_one_or_none()
    if follow_up is not None:
        closed = expected.grace_ends_at.astimezone(ZoneInfo(case.timezone))
        follow_up.detail = (f"{follow_up.detail} The check-in window ending "
                            f"{closed:%Y-%m-%d %H:%M} was excused: locked out.")[:500]


async def decide_missed(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Settle check-ins whose grace period is over: missed, with a follow-up for the
    caseworker, or excused when a declared outage covers them or the person was
    locked out (five wrong PINs) when the grace period ended: a lockout alone never
    makes a check-in missed. Idempotent: only pending rows are taken, each by one
    worker (``SKIP LOCKED``). Returns how many."""
    rows = (await session.execute(
        sa.select(ExpectedCheckin).where(ExpectedCheckin.status == Outcome.pending,
                                         ExpectedCheckin.grace_ends_at < now)
        .order_by(ExpectedCheckin.grace_ends_at).limit(limit).with_for_update(skip_locked=True)
    )).scalars().all()
    if not rows:
        return 0
    cases = {c.case_id: c for c in (await session.execute(
        sa.select(CaseCopy).where(CaseCopy.case_id.in_({r.case_id for r in rows})))).scalars()}
    outages = (await session.execute(sa.select(Outage).where(
        Outage.starts_at <= max(r.grace_ends_at for r in rows),
        Outage.ends_at >= min(r.opens_at for r in rows)))).scalars().all()
    locks = await _locked_out(session, rows)
    for expected in rows:
        case = cases[expected.case_id]
        outage = _covering(outages, expected, case.channels)
        if outage is not None:
            _excuse_for_outage(expected, outage, now)
        elif any(lock.starts_at <= expected.grace_ends_at <= lock.ends_at
                 for lock in locks.get(expected.case_id, ())):
            await _excuse_locked_out(session, expected, case, now)
        else:
            expected.status, expected.decided_at = Outcome.missed, now
            detail = "The check-in window and its grace period passed without a check-in."
            if expected.reminder_status in NOT_DELIVERED:
                detail += f" The reminder was not delivered ({expected.reminder_status})."
            await open_follow_up(session, case=case, kind=FollowUpKind.missed_checkin,
                                 expected_checkin_id=expected.id, detail=detail)
        await publish_events(session, ExpectedCheckinOutcome.of(expected))
    await session.flush()
    return len(rows)


async def declare_outage(session: AsyncSession, *, channel: OutageChannel, starts_at: datetime,
                         ends_at: datetime, reason: str, actor: str) -> tuple[Outage, int]:
    """Record an outage and excuse every missed check-in whose window (grace included)
    overlapped it, for cases reporting by that channel; their open follow-ups close
    with the reason. Check-ins still pending are excused by ``decide_missed`` later."""
    outage = Outage(channel=channel, starts_at=starts_at, ends_at=ends_at, reason=reason,
                    declared_by=actor)
    session.add(outage)
    await session.flush()
    await publish_events(session, OutageDeclared.of(outage))
    missed = (await session.execute(
        sa.select(ExpectedCheckin, CaseCopy)
        .join(CaseCopy, CaseCopy.case_id == ExpectedCheckin.case_id)
        .where(ExpectedCheckin.status == Outcome.missed, ExpectedCheckin.opens_at <= ends_at,
               ExpectedCheckin.grace_ends_at >= starts_at)
        .with_for_update(of=ExpectedCheckin))).all()
    now, excused = utcnow(), 0
    for expected, case in missed:
        if _covering([outage], expected, case.channels) is None:
            continue
        _excuse_for_outage(expected, outage, now)
        await publish_events(session, ExpectedCheckinOutcome.of(expected))
        await close_follow_ups_of(session, expected, actor="system",
                                   note=expected.excusal_reason or "")
        excused += 1
    await session.flush()
    return outage, excused


async def list_outages(session: AsyncSession, *, limit: int = 100) -> list[Outage]:
    return list((await session.execute(
        sa.select(Outage).order_by(Outage.starts_at.desc()).limit(limit))).scalars())


