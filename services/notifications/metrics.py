"""Notifications' own counters (``/metrics``, and ``waymark dispatch --metrics-port``;
the mechanism is ``shared.metrics``). Counted once the dispatcher's transaction that
records the outcome commits. Labels are closed vocabularies, never a person."""

from __future__ import annotations

from prometheus_client import Counter

REMINDERS = Counter(
    "waymark_reminders_total",
    "Reminders settled by the dispatcher, by status: sent (handed to the provider), "
    "retried (a temporary error, planned again), failed (a permanent error or a "
    "deadline passed), cancelled (no longer wanted when claimed).",
    ["status"])
