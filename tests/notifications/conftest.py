"""Notifications fixtures: the app on the session's migrated database, every write rolled
back after the test, with its scheduler off so each test drives the feeds, the
dispatcher and the clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import time_machine
from asgi_lifespan import LifespanManager

from shared.migrations import upgrade
from tests.checkin.conftest import BEFORE_FIRST_WINDOW
from tests.conftest import client_for, notifications_settings, rolled_back


@pytest.fixture
async def notifications_app(database_urls) -> AsyncIterator:
    from notifications.app import create_app

    settings = notifications_settings(database_urls["notifications"], WAYMARK_NOTIFY_RATE=0)
    async with rolled_back(create_app(settings)) as app:
        yield app


@pytest.fixture
async def notifications(notifications_app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(notifications_app, "notifications") as client:
        yield client


@pytest.fixture
def fresh_notifications(empty_database):
    """Makes the notifications app on its own new database, committing for real (the
    dispatcher's concurrent sends, other processes): ``async with fresh(**settings)``."""
    from notifications.app import create_app

    @asynccontextmanager
    async def make(**extra) -> AsyncIterator:
        url = empty_database(f"notifications_{uuid.uuid4().hex[:6]}")
        upgrade("notifications", url)
        app = create_app(notifications_settings(url, **extra))
        async with LifespanManager(app):
            yield app

    return make


@pytest.fixture
def clock():
    """A stopped clock at Tuesday 1 December 2026, noon UTC."""
    with time_machine.travel(BEFORE_FIRST_WINDOW, tick=False) as traveller:
        yield traveller
