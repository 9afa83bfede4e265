"""When reminders go out: local wall-clock rules across DST changes and quiet hours."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from notifications.config import ReminderPolicy
from notifications.plan import QuietHours, plan

DEFAULT = ReminderPolicy()
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def at(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def planned(tz: str, opens: datetime, *, hours: float = 10, grace: float = 24,
            policy: ReminderPolicy = DEFAULT, now: datetime = LONG_AGO) -> dict[str, datetime]:
    closes = opens + timedelta(hours=hours)
    return {p.kind: p.due_at for p in plan(
        opens_at=opens, closes_at=closes, grace_ends_at=closes + timedelta(hours=grace),
        timezone=tz, policy=policy, now=now)}


def test_default_plan_evening_before_window_opens_and_nudge():
    opens = at("Europe/London", 2026, 12, 7, 9)
    assert planned("Europe/London", opens) == {
        "evening_before": at("Europe/London", 2026, 12, 6, 18),
        "window_opens": opens,
        "nudge": at("Europe/London", 2026, 12, 8, 17),  # grace ends Tue 19:00
    }


@pytest.mark.parametrize(("tz", "opens", "evening"), [
    # London springs forward on Sunday 28 March 2027: 18:00 that evening is BST (17:00Z).
    ("Europe/London", (2027, 3, 29, 9), (2027, 3, 28, 18)),
    # ...and falls back on Sunday 31 October 2027: 18:00 is GMT again.
    ("Europe/London", (2027, 11, 1, 9), (2027, 10, 31, 18)),
    # The evening before the change is still on the old offset.
    ("Europe/London", (2027, 3, 28, 9), (2027, 3, 27, 18)),
    # New York springs forward on Sunday 14 March 2027.
    ("America/New_York", (2027, 3, 15, 9), (2027, 3, 14, 18)),
    ("America/New_York", (2027, 11, 8, 9), (2027, 11, 7, 18)),
])
def test_the_evening_before_stays_at_18_local_across_dst(tz, opens, evening):
    result = planned(tz, at(tz, *opens))
    assert result["evening_before"] == at(tz, *evening)
    assert result["evening_before"].astimezone(ZoneInfo(tz)).time() == time(18)


def test_the_nudge_is_two_real_hours_before_grace_ends_across_dst():
    # Window Saturday 27 March 2027 09:00-19:00 GMT; grace 24 h ends Sunday 20:00 BST.
    opens = at("Europe/London", 2027, 3, 27, 9)
    nudge = planned("Europe/London", opens)["nudge"]
    assert nudge == opens + timedelta(hours=10 + 24 - 2)
    assert nudge.astimezone(ZoneInfo("Europe/London")).time() == time(18)


def test_a_window_opening_in_quiet_hours_is_announced_when_they_end():
    opens = at("Europe/London", 2026, 12, 7, 6)  # 06:00-16:00
    assert planned("Europe/London", opens)["window_opens"] == at("Europe/London", 2026, 12, 7, 8)


def test_a_nudge_due_in_quiet_hours_moves_earlier_when_later_would_be_too_late():
    # 09:00-19:00, grace until 23:00: the nudge (21:00) goes at 20:30 instead.
    opens = at("Europe/London", 2026, 12, 7, 9)
    result = planned("Europe/London", opens, grace=4)
    assert result["nudge"] == at("Europe/London", 2026, 12, 7, 20, 30)


def test_a_night_window_keeps_its_evening_reminder_and_drops_what_cannot_be_true():
    # 22:00-23:30, grace to 00:30: no daytime moment says "open now" truthfully.
    opens = at("Europe/London", 2026, 12, 7, 22)
    result = planned("Europe/London", opens, hours=1.5, grace=1)
    assert result == {"evening_before": at("Europe/London", 2026, 12, 6, 18)}


def test_a_late_evening_policy_is_moved_before_quiet_hours_not_dropped():
    policy = ReminderPolicy(evening_before=time(22, 0))
    opens = at("Europe/London", 2026, 12, 7, 9)
    result = planned("Europe/London", opens, policy=policy)
    assert result["evening_before"] == at("Europe/London", 2026, 12, 6, 20, 30)


def test_a_programme_can_turn_kinds_off():
    policy = ReminderPolicy(evening_before=None, nudge_hours_before_grace_end=None)
    opens = at("Europe/London", 2026, 12, 7, 9)
    assert set(planned("Europe/London", opens, policy=policy)) == {"window_opens"}


def test_reminders_already_past_are_not_planned():
    opens = at("Europe/London", 2026, 12, 7, 9)
    result = planned("Europe/London", opens, now=at("Europe/London", 2026, 12, 6, 19))
    assert set(result) == {"window_opens", "nudge"}


@pytest.mark.parametrize("tz", ["Europe/London", "America/New_York", "Asia/Kolkata",
                                "Australia/Lord_Howe"])
def test_nothing_is_ever_due_or_allowed_to_go_in_quiet_hours(tz):
    rng = random.Random(tz)
    quiet = QuietHours(DEFAULT.quiet_start, DEFAULT.quiet_end, ZoneInfo(tz))
    start = datetime(2027, 1, 1, tzinfo=UTC)
    for _ in range(400):
        opens = start + timedelta(minutes=15 * rng.randrange(365 * 96))
        closes = opens + timedelta(hours=rng.choice([1, 2, 4, 10, 12]))
        grace = closes + timedelta(hours=rng.choice([1, 3, 24, 48]))
        for item in plan(opens_at=opens, closes_at=closes, grace_ends_at=grace, timezone=tz,
                         policy=DEFAULT, now=LONG_AGO):
            assert not quiet.contains(item.due_at), (item, opens)
            assert item.due_at < item.deadline <= quiet.next_start(item.due_at)
            assert item.deadline <= grace
