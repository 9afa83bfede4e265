"""When each reminder for an expected check-in goes out: pure time arithmetic, on the
person's local clock (zoneinfo), so 18:00 stays 18:00 across a DST change.

Rules (all local time):
- ``evening_before``: the policy's hour on the day before the window opens.
- ``window_opens``: when the window opens (its text says "open now").
- ``nudge``: the policy's hours before the grace period ends, only if still pending
  when it is due (the dispatcher checks again).

Quiet hours move a reminder, they do not drop it: one that falls inside them goes to
the end of the quiet hours if that is still in time, otherwise to half an hour before
they began. Only a reminder with no allowed moment in which its text is still true
(a window that opens and closes entirely within quiet hours gets no "open now") is
left out. Each reminder's deadline is the earlier of the moment its text stops being
true and the next quiet hours, so a delayed or retried one is never sent at night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.config import ReminderPolicy
from notifications.enums import ReminderKind

BEFORE_QUIET = timedelta(minutes=30)


@dataclass(frozen=True)
class Planned:
    kind: ReminderKind
    due_at: datetime  # UTC
    deadline: datetime  # UTC


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock moment as an aware UTC datetime."""
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    tz: ZoneInfo

    def contains(self, moment: datetime) -> bool:
        clock = _local(moment, self.tz).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def period(self, moment: datetime) -> tuple[datetime, datetime]:
        """The quiet period that contains ``moment``: (start, end), in UTC."""
        local = _local(moment, self.tz)
        day = local.date()
        if self.start > self.end and local.time() < self.end:
            day -= timedelta(days=1)  # the period began the evening before
        start = _at(day, self.start, self.tz)
        end_day = day + timedelta(days=1) if self.start > self.end else day
        return start, _at(end_day, self.end, self.tz)

    def next_start(self, moment: datetime) -> datetime:
        """The first moment of the next quiet period after ``moment``."""
        if self.start == self.end:  # no quiet hours at all
            return datetime.max.replace(tzinfo=UTC)
        local = _local(moment, self.tz)
        candidate = _at(local.date(), self.start, self.tz)
        if candidate <= moment:
            candidate = _at(local.date() + timedelta(days=1), self.start, self.tz)
        return candidate


def _place(due: datetime, *, earliest: datetime, latest: datetime,
           quiet: QuietHours) -> tuple[datetime, datetime] | None:
    """Move ``due`` out of quiet hours within ``[earliest, latest)``; returns the moment
    and the deadline, or None when no allowed moment fits."""
    if quiet.contains(due):
        start, end = quiet.period(due)
        if earliest <= end < latest:
            due = end
        elif earliest <= start - BEFORE_QUIET < latest:
            due = start - BEFORE_QUIET
        else:
            return None
    if not earliest <= due < latest:
        return None
    return due, min(latest, quiet.next_start(due))


def plan(*, opens_at: datetime, closes_at: datetime, grace_ends_at: datetime,
         timezone: str, policy: ReminderPolicy, now: datetime,
         awaiting: frozenset[ReminderKind] = frozenset()) -> list[Planned]:
    """The reminders for one expected check-in that are still to come after ``now``;
    and those of the ``awaiting`` kinds (planned already, and waiting for the
    dispatcher) that fell due before ``now`` but are still in time: a plan made again
    while one waits its turn keeps it rather than dropping it unsent."""
    tz = ZoneInfo(timezone)
    quiet = QuietHours(policy.quiet_start, policy.quiet_end, tz)
    planned: list[Planned] = []

    def add(kind: ReminderKind, due: datetime, earliest: datetime, latest: datetime) -> None:
        placed = _place(due, earliest=earliest, latest=latest, quiet=quiet)
        if placed is not None and (placed[0] >= now or (kind in awaiting and placed[1] > now)):
            planned.append(Planned(kind, *placed))

    if policy.evening_before is not None:
        day_before = _local(opens_at, tz).date() - timedelta(days=1)
        due = _at(day_before, policy.evening_before, tz)
        # Its text says "tomorrow": it must go on the day before.
        midnight = _at(day_before + timedelta(days=1), time(0), tz)
        add(ReminderKind.evening_before, due, _at(day_before, time(0), tz), min(opens_at, midnight))
    if policy.window_opens:
        add(ReminderKind.window_opens, opens_at, opens_at, closes_at)
    if policy.nudge_hours_before_grace_end is not None:
        due = grace_ends_at - timedelta(hours=policy.nudge_hours_before_grace_end)
        if due > opens_at:  # otherwise it would only repeat "open now"
            add(ReminderKind.nudge, due, opens_at, grace_ends_at)
    return planned
