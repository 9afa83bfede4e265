"""Checkin fixtures: the app on the session's migrated database, every write rolled back
after the test, with its scheduler off so each test drives the jobs and the clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import async_sessionmaker

from shared.migrations import upgrade
from tests.conftest import checkin_settings

QUIET = {"WAYMARK_CHECKIN_FEED_POLL_SECONDS": 0, "WAYMARK_CHECKIN_JOBS_SECONDS": 0}


@pytest.fixture
async def checkin_app(database_urls) -> AsyncIterator:
    from checkin.app import create_app

    app = create_app(checkin_settings(database_urls["checkin"], **QUIET))
    async with LifespanManager(app), app.state.engine.connect() as conn:
        outer = await conn.begin()
        app.state.sessionmaker = async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint")
        yield app
        await outer.rollback()


@pytest.fixture
async def checkin(checkin_app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=checkin_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://checkin") as client:
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
    transport = httpx.ASGITransport(app=fresh_checkin_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://checkin") as client:
        yield client
