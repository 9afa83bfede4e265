"""What the end-to-end tests share: a free port and an empty database per service, a
migrated database per service, and the Twilio-compatible server."""

from __future__ import annotations

import os

import pytest

from shared.migrations import upgrade
from tests.e2e.test_waymark_run import SERVICES, free_port
from tests.support.twilio_server import TwilioServer


@pytest.fixture
def service_env(empty_database, tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    for service in SERVICES:
        key = service.upper()
        env[f"WAYMARK_{key}_PORT"] = str(free_port())
        env[f"WAYMARK_{key}_DATABASE_URL"] = empty_database(f"e2e_{service}")
    return env


@pytest.fixture
def databases(empty_database) -> dict[str, str]:
    """One migrated database per service."""
    urls = {}
    for service in SERVICES:
        urls[service] = empty_database(f"e2e_{service}")
        upgrade(service, urls[service])
    return urls


@pytest.fixture
def twilio():
    with TwilioServer() as server:
        yield server
