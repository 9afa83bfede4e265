"""Expected check-in windows from a reporting requirement, in the person's time zone.

All arithmetic is on local wall-clock times, then each instant is placed in the zone
with ``zoneinfo``: a weekly 09:00 window stays at 09:00 local across a change to or
from summer time, and a window of ten hours ends at 19:00 local whatever the offset
did in between. A local time that does not exist (inside the spring-forward gap)
falls on the same wall-clock time shifted forward by the gap, as ``zoneinfo`` resolves
it (``fold=0``): 01:30 on the night clocks jump from 01:00 to 02:00 becomes 02:30.
A time that happens twice (the autumn overlap) is the first of the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr


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
