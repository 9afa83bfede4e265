"""The three services, each on a database of its own, for tests that drive them from
outside with generated input. Schemathesis runs each app's lifespan once, on an event
loop thread of its own; these tests are synchronous and reach the apps through it."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import schemathesis
from schemathesis.python import asgi

from shared.migrations import upgrade
from tests.conftest import auth, checkin_settings, notifications_settings, registry_settings
from tests.registry.factories import case_body

SERVICES = ("registry", "checkin", "notifications")


# The feeds are polled often, so the seeded case reaches checkin and notifications in
# well under a second; nothing is sent and no job runs while the fuzzing goes on.
POLL = "0.1"


def _app(service: str, url: str):
    if service == "registry":
        from registry.app import create_app
        return create_app(registry_settings(url))
    if service == "checkin":
        from checkin.app import create_app
        return create_app(checkin_settings(url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=POLL,
                                           WAYMARK_CHECKIN_JOBS_SECONDS=0))
    from notifications.app import create_app
    return create_app(notifications_settings(url, WAYMARK_NOTIFICATIONS_FEED_POLL_SECONDS=POLL))


def _follow(consumer, source) -> None:
    """Point a feed consumer at another app, in process (the apps share no port)."""
    consumer.client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=source), base_url="http://source",
        headers=dict(auth("service", sub="fuzz")))


@pytest.fixture(scope="session")
def schemas(empty_database):
    """Each service on a database of its own, its lifespan run once by Schemathesis,
    following the others' feeds; ``schemas["case_id"]`` is a case all three know, so
    the fuzzing reaches past "no such case"."""
    loaded: dict = {}
    for service in SERVICES:
        url = empty_database(f"fuzz_{service}_{uuid.uuid4().hex[:6]}")
        upgrade(service, url)
        loaded[service] = schemathesis.openapi.from_asgi("/openapi.json", _app(service, url))
    registry, checkin, notifications = (loaded[s].app for s in SERVICES)
    _follow(checkin.state.registry_feed, registry)
    _follow(checkin.state.notifications_feed, notifications)
    _follow(notifications.state.registry_feed, registry)
    _follow(notifications.state.checkin_feed, checkin)
    loaded["case_id"] = _seed_case(registry, checkin, notifications)
    yield loaded
    asgi.shutdown_lifespans()


def _seed_case(registry, checkin, notifications) -> str:
    caseworker = dict(auth("caseworker", sub="fuzz-caseworker"))
    created = asgi.get_client(registry).post("/v1/cases", json=case_body(), headers=caseworker)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    deadline = time.monotonic() + 30
    for app, path in ((checkin, f"/v1/cases/{case_id}/checkins"),
                      (notifications, f"/v1/cases/{case_id}/notifications")):
        while asgi.get_client(app).get(path, headers=caseworker).status_code != 200:
            assert time.monotonic() < deadline, f"the seeded case never reached {path}"
            time.sleep(0.05)
    return case_id


