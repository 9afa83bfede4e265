"""Notifications' reminder counter moves with what the dispatcher commits."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from tests.notifications.helpers import FIRST_OPENS, add_person, dispatch


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_reminders_count_by_status(notifications_app, clock):
    await add_person(notifications_app)
    sent, failed = value("waymark_reminders_total", status="sent"), value(
        "waymark_reminders_total", status="failed")
    clock.move_to(FIRST_OPENS + timedelta(minutes=1))  # the evening before is over
    stats = await dispatch(notifications_app, concurrency=1)
    assert (stats.sent, stats.failed) == (1, 1)
    assert value("waymark_reminders_total", status="sent") == sent + 1
    assert value("waymark_reminders_total", status="failed") == failed + 1
