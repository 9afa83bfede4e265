"""The schedule: expected check-in windows from a reporting requirement, in the person's
time zone, and their materialisation as expected check-ins a horizon ahead.

All arithmetic is on local wall-clock times, then each instant is placed in the zone
with ``zoneinfo``: a weekly 09:00 window stays at 09:00 local across a change to or
from summer time, and a window of ten hours ends at 19:00 local whatever the offset
did in between. A local time that does not exist (inside the spring-forward gap)
falls on the same wall-clock time shifted forward by the gap, as ``zoneinfo`` resolves
it (``fold=0``): 01:30 on the night clocks jump from 01:00 to 02:00 becomes 02:30.
A time that happens twice (the autumn overlap) is the first of the two.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from dateutil.rrule import rrulestr
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.enums import OUTSTANDING, CaseStatus, Outcome
from checkin.events import ExpectedCheckinCancelled, ExpectedCheckinPlanned, publish_events
from checkin.models import CaseCopy, ExpectedCheckin


@dataclass(frozen=True, slots=True)
class Window:
    opens_at: datetime
    closes_at: datetime
    grace_ends_at: datetime


@dataclass(frozen=True, slots=True)
class Requirement:
    rrule: str
    window_opens: time
    window_hours: int
    grace_hours: int
    timezone: str
    starts_on: date

    def signature(self) -> str:
        """Changes whenever the windows it produces could change."""
        return "|".join((self.rrule, self.window_opens.isoformat("minutes"),
                         str(self.window_hours), str(self.grace_hours), self.timezone,
                         self.starts_on.isoformat()))


def _place(local: datetime, zone: ZoneInfo) -> datetime:
    # Through UTC and back resolves a non-existent local time the way the docstring says.
    return local.replace(tzinfo=zone).astimezone(UTC)


def windows(requirement: Requirement, *, after: datetime, until: datetime) -> Iterator[Window]:
    """Windows that open strictly after ``after`` and no later than ``until`` (UTC)."""
    zone = ZoneInfo(requirement.timezone)
    start = datetime.combine(requirement.starts_on, requirement.window_opens)
    rule = rrulestr(requirement.rrule, dtstart=start)
    # Search in local wall-clock time with a day's margin either side for the offset.
    local_after = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
    local_until = until.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    for local_open in rule.between(max(local_after, start - timedelta(seconds=1)), local_until,
                                   inc=True):
        opens_at = _place(local_open, zone)
        if not after < opens_at <= until:
            continue
        local_close = local_open + timedelta(hours=requirement.window_hours)
        closes_at = _place(local_close, zone)
        grace_ends_at = _place(local_close + timedelta(hours=requirement.grace_hours), zone)
        yield Window(opens_at=opens_at, closes_at=closes_at, grace_ends_at=grace_ends_at)


def requirement(case: CaseCopy) -> Requirement:
    return Requirement(rrule=case.rrule, window_opens=case.window_opens,
                       window_hours=case.window_hours, grace_hours=case.grace_hours,
                       timezone=case.timezone, starts_on=case.starts_on)


async def _cancel_pending(session: AsyncSession, *, case_id: uuid.UUID,
                          condition: sa.ColumnElement[bool]) -> None:
    rows = (await session.execute(
        sa.select(ExpectedCheckin).where(
            ExpectedCheckin.case_id == case_id, ExpectedCheckin.status == Outcome.pending, condition)
    )).scalars().all()
    for row in rows:
        await session.delete(row)
    await publish_events(session, *(ExpectedCheckinCancelled(id=row.id, case_id=case_id)
                                    for row in rows))
    await session.flush()


async def plan_schedule(session: AsyncSession, *, case: CaseCopy, now: datetime,
                        horizon: timedelta) -> int:
    """Materialise the case's expected check-ins up to ``now + horizon``; returns how many
    were added. Only windows that open after ``now`` are planned: nothing is expected
    of a person that they could not have been told about in advance. A changed
    requirement replaces the future pending windows and keeps the past; a case that
    is not active has nothing pending that is still open or ahead."""
    if case.status != CaseStatus.active:
        await _cancel_pending(session, case_id=case.case_id,
                              condition=ExpectedCheckin.grace_ends_at >= now)
        case.planned_rule, case.planned_until = None, None
        return 0
    rule = requirement(case)
    signature = rule.signature()
    if case.planned_rule is not None and case.planned_rule != signature:
        await _cancel_pending(session, case_id=case.case_id,
                              condition=ExpectedCheckin.opens_at > now)
    existing = set((await session.execute(
        sa.select(ExpectedCheckin.opens_at).where(
            ExpectedCheckin.case_id == case.case_id, ExpectedCheckin.opens_at > now)
    )).scalars())
    until = now + horizon
    planned = [ExpectedCheckin(case_id=case.case_id, opens_at=window.opens_at,
                               closes_at=window.closes_at, grace_ends_at=window.grace_ends_at)
               for window in windows(rule, after=now, until=until)
               if window.opens_at not in existing]
    session.add_all(planned)
    await publish_events(session, *(ExpectedCheckinPlanned.of(row) for row in planned))
    case.planned_rule, case.planned_until = signature, until
    await session.flush()
    return len(planned)


async def extend_horizons(session: AsyncSession, *, now: datetime, horizon: timedelta,
                          limit: int = 200) -> int:
    """Roll the horizon forward for active cases whose plan ends within a day; returns
    the number of cases re-planned (call until it returns 0)."""
    due = (await session.execute(
        sa.select(CaseCopy).where(
            CaseCopy.status == CaseStatus.active,
            sa.or_(CaseCopy.planned_until.is_(None),
                   CaseCopy.planned_until < now + horizon - timedelta(days=1)))
        .order_by(CaseCopy.case_id).limit(limit).with_for_update(skip_locked=True)
    )).scalars().all()
    for case in due:
        await plan_schedule(session, case=case, now=now, horizon=horizon)
    return len(due)



async def next_expected(session: AsyncSession, *, case_id: uuid.UUID,
                        now: datetime, include_open: bool = False) -> ExpectedCheckin | None:
    """The next window still to attend: one opening later, or (``include_open``) one
    open now and not yet attended."""
    edge = ExpectedCheckin.grace_ends_at >= now if include_open else ExpectedCheckin.opens_at > now
    return (await session.execute(
        sa.select(ExpectedCheckin).where(
            ExpectedCheckin.case_id == case_id, edge,
            ExpectedCheckin.status.in_(OUTSTANDING))
        .order_by(ExpectedCheckin.opens_at).limit(1))).scalar_one_or_none()


