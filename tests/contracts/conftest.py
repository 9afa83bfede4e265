"""The three services, each on a database of its own, for tests that drive them from
outside with generated input. Schemathesis runs each app's lifespan once, on an event
loop thread of its own; these tests are synchronous and reach the apps through it."""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from schemathesis.python import asgi

from shared.migrations import upgrade
from tests.conftest import checkin_settings, notifications_settings, registry_settings

SERVICES = ("registry", "checkin", "notifications")


def _app(service: str, url: str):
    if service == "registry":
        from registry.app import create_app
        return create_app(registry_settings(url))
    if service == "checkin":
        from checkin.app import create_app
        return create_app(checkin_settings(url, WAYMARK_CHECKIN_FEED_POLL_SECONDS=0,
                                           WAYMARK_CHECKIN_JOBS_SECONDS=0))
    from notifications.app import create_app
    return create_app(notifications_settings(url))


@pytest.fixture(scope="session")
def schemas(empty_database):
    """Each service on a database of its own, its lifespan run once by Schemathesis."""
    loaded = {}
    for service in SERVICES:
        url = empty_database(f"fuzz_{service}_{uuid.uuid4().hex[:6]}")
        upgrade(service, url)
        loaded[service] = schemathesis.openapi.from_asgi("/openapi.json", _app(service, url))
    yield loaded
    asgi.shutdown_lifespans()


