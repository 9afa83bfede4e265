"""Checkin's own counters (``/metrics``; the mechanism is ``shared.metrics``). Each
moves when the transaction that did the work commits. Labels are closed vocabularies
(channel, timing, kind): never a case, a person or a number."""

from __future__ import annotations

from prometheus_client import Counter

CHECKINS = Counter(
    "waymark_checkins_total",
    "Check-ins recorded, by channel (sms, voice, in_person) and timing (on_time, late, "
    "unscheduled); an officer's double submit is not counted twice.",
    ["channel", "timing"])
FOLLOW_UPS_OPENED = Counter(
    "waymark_follow_ups_opened_total", "Follow-ups opened, by kind.", ["kind"])
