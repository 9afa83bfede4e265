"""Check-ins: recording one (SMS, keypad or in person) against the window it falls in,
and reading a case's record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from checkin import rollups
from checkin.cases import get_case
from checkin.enums import ATTENDED, OUTSTANDING, Channel, IdentityCheck, Outcome, Timing
from checkin.events import CheckinRecorded, ExpectedCheckinOutcome, publish_events
from checkin.metrics import CHECKINS
from checkin.models import CaseCopy, Checkin, ExpectedCheckin
from checkin.schedule import next_expected
from shared.db import UTCDateTime
from shared.metrics import count_on_commit

# Built once: statements on the check-in path cost more to build than to run.
_OUTSTANDING_LIMIT = 3
_OUTSTANDING = (
    sa.select(ExpectedCheckin).where(
        ExpectedCheckin.case_id == sa.bindparam("case_id"),
        ExpectedCheckin.status.in_(OUTSTANDING),
        ExpectedCheckin.grace_ends_at >= sa.bindparam("now", type_=UTCDateTime))
    .order_by(ExpectedCheckin.opens_at).limit(_OUTSTANDING_LIMIT).with_for_update())
_INSERT_CHECKIN = sa.insert(Checkin.__table__)  # type: ignore[attr-defined]
_SETTLE = sa.update(ExpectedCheckin.__table__).where(  # type: ignore[attr-defined]
    ExpectedCheckin.__table__.c.id == sa.bindparam("expected_id"))  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Recorded:
    checkin: Checkin
    expected: ExpectedCheckin | None
    # True when the window this falls in was already attended: nothing new is due.
    already: bool = False
    duplicate: bool = False
    # The next window still to attend after this check-in (None: none is planned).
    next: ExpectedCheckin | None = None


async def record_checkin(
    session: AsyncSession, *, case: CaseCopy, channel: Channel, now: datetime,
    reporting_centre: str | None = None, identity_confirmed_by: IdentityCheck | None = None,
    recorded_by: str | None = None,
) -> Recorded:
    """Record a check-in and settle the earliest outstanding window it falls in (inside
    the window: on time; inside the grace period: late). One that fits no window is
    kept as an unscheduled contact, never refused. Callers hold the case row locked,
    so two arriving together are settled one after the other."""
    if channel == Channel.in_person:
        # An officer's double submit: the same case at the counter within a minute.
        recent = (await session.execute(
            sa.select(Checkin).where(
                Checkin.case_id == case.case_id, Checkin.channel == Channel.in_person,
                Checkin.received_at > now - timedelta(minutes=1))
            .order_by(Checkin.received_at.desc()).limit(1))).scalar_one_or_none()
        if recent is not None:
            expected = (await session.get(ExpectedCheckin, recent.expected_checkin_id)
                        if recent.expected_checkin_id else None)
            return Recorded(checkin=recent, expected=expected, duplicate=True)
    # One query for the window to settle and the one after it (a reply names it).
    outstanding = (await session.execute(
        _OUTSTANDING, {"case_id": case.case_id, "now": now})).scalars().all()
    expected = next((e for e in outstanding if e.opens_at <= now), None)
    upcoming = next((e for e in outstanding if e.opens_at > now), None)
    if upcoming is None and len(outstanding) == _OUTSTANDING_LIMIT:  # cut short: look on
        upcoming = await next_expected(session, case_id=case.case_id, now=now)
    already = False
    if expected is None:
        timing = Timing.unscheduled
        already = bool(await session.scalar(
            sa.select(sa.func.count()).select_from(ExpectedCheckin).where(
                ExpectedCheckin.case_id == case.case_id, ExpectedCheckin.status.in_(ATTENDED),
                ExpectedCheckin.opens_at <= now, ExpectedCheckin.grace_ends_at >= now)))
    else:
        timing = Timing.on_time if now <= expected.closes_at else Timing.late
    checkin = Checkin(case_id=case.case_id, channel=channel, received_at=now, timing=timing,
                      expected_checkin_id=expected.id if expected else None,
                      reporting_centre=reporting_centre,
                      identity_confirmed_by=identity_confirmed_by, recorded_by=recorded_by)
    # Core statements rather than a unit-of-work flush: this is the busiest write path.
    await session.execute(_INSERT_CHECKIN, checkin.model_dump())
    events: list[CheckinRecorded | ExpectedCheckinOutcome] = [CheckinRecorded.of(checkin)]
    if expected is not None:
        before = rollups.cell_of(expected)
        settled = {"status": Outcome(timing), "checkin_id": checkin.id, "decided_at": now,
                   **rollups.settled_values(expected, case, channel=channel,
                                            reporting_centre=reporting_centre)}
        await session.execute(_SETTLE, {**settled, "expected_id": expected.id})
        for name, value in settled.items():  # the loaded row, as now stored
            set_committed_value(expected, name, value)
        # A core update: the session's hooks do not see it, so the move is logged here.
        await rollups.record(session, [(before, rollups.cell_of(expected))])
        events.append(ExpectedCheckinOutcome.of(expected))
    await publish_events(session, *events)
    count_on_commit(session, CHECKINS, channel=channel, timing=timing)
    return Recorded(checkin=checkin, expected=expected, already=already, next=upcoming)


async def last_checkin(session: AsyncSession, *, case_id: uuid.UUID) -> Checkin | None:
    return (await session.execute(
        sa.select(Checkin).where(Checkin.case_id == case_id)
        .order_by(Checkin.received_at.desc()).limit(1))).scalar_one_or_none()


async def list_checkins(session: AsyncSession, *, case_id: uuid.UUID, since: datetime | None,
                        until: datetime | None) -> tuple[list[ExpectedCheckin], list[Checkin]]:
    """A case's expected check-ins in a period and every check-in received in it."""
    await get_case(session, case_id=case_id)
    expected_q = sa.select(ExpectedCheckin).where(ExpectedCheckin.case_id == case_id)
    checkins_q = sa.select(Checkin).where(Checkin.case_id == case_id)
    if since is not None:
        expected_q = expected_q.where(ExpectedCheckin.opens_at >= since)
        checkins_q = checkins_q.where(Checkin.received_at >= since)
    if until is not None:
        expected_q = expected_q.where(ExpectedCheckin.opens_at < until)
        checkins_q = checkins_q.where(Checkin.received_at < until)
    expected = (await session.execute(expected_q.order_by(ExpectedCheckin.opens_at))).scalars()
    checkins = (await session.execute(checkins_q.order_by(Checkin.received_at))).scalars()
    return list(expected), list(checkins)


