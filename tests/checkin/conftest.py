"""Checkin fixtures: the app on the session's migrated database, every write rolled back
after the test, with its scheduler off so each test drives the jobs and the clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import time_machine
from asgi_lifespan import LifespanManager

from shared.migrations import upgrade
from tests.conftest import checkin_settings, client_for, rolled_back

# Tuesday 1 December 2026, noon UTC: the tests' default "now", before the first window.
BEFORE_FIRST_WINDOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
QUIET = {"WAYMARK_CHECKIN_FEED_POLL_SECONDS": 0, "WAYMARK_CHECKIN_JOBS_SECONDS": 0}


@pytest.fixture
async def checkin_app(database_urls) -> AsyncIterator:
    from checkin.app import create_app

    async with rolled_back(create_app(checkin_settings(database_urls["checkin"], **QUIET))) as app:
        yield app


@pytest.fixture
async def checkin(checkin_app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(checkin_app, "checkin") as client:
        yield client


@pytest.fixture
async def fresh_checkin_app(empty_database) -> AsyncIterator:
    """Checkin on its own new database, committing for real (concurrent requests)."""
    from checkin.app import create_app

    url = empty_database(f"checkin_{uuid.uuid4().hex[:6]}")
    upgrade("checkin", url)
    app = create_app(checkin_settings(url, **QUIET))
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def fresh_checkin(fresh_checkin_app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(fresh_checkin_app, "checkin") as client:
        yield client


@pytest.fixture
def clock():
    """A stopped clock at ``BEFORE_FIRST_WINDOW``; move it with ``move_to`` or ``shift``."""
    with time_machine.travel(BEFORE_FIRST_WINDOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
async def case(checkin_app, checkin, clock):
    """An Arabic-speaking person's active case with a PIN: ``(case_id, pin)``."""
    from tests.checkin.helpers import add_case, issue_pin

    case_id = await add_case(checkin_app, language="ar")
    return case_id, await issue_pin(checkin, case_id)
