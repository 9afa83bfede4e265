"""Test databases are built from the real migrations, once per session, on SQLite or,
when ``WAYMARK_TEST_POSTGRES_URL`` is set (CI), on PostgreSQL: one database per
service, as in production. Each test runs inside a transaction that is rolled back."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import async_sessionmaker

from shared.auth import issue_token
from shared.config import DEV_AUTH_SECRET
from shared.migrations import upgrade

POSTGRES_URL = os.environ.get("WAYMARK_TEST_POSTGRES_URL")
SERVICES = ("registry", "checkin", "notifications")

requires_postgres = pytest.mark.skipif(
    POSTGRES_URL is None, reason="needs WAYMARK_TEST_POSTGRES_URL (.ci/run sets it)"
)


def _admin_url() -> str:
    return POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")  # type: ignore[union-attr]


def create_postgres_database(name: str) -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = _admin_url().rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def empty_database(tmp_path_factory) -> Callable[[str], str]:
    """Makes a new empty database for the configured backend; dropped at the end."""
    created: list[str] = []
    suffix = uuid.uuid4().hex[:8]

    def make(label: str) -> str:
        if POSTGRES_URL:
            name = f"waymark_test_{label}_{suffix}"
            created.append(name)
            return create_postgres_database(name)
        return f"sqlite:///{tmp_path_factory.mktemp('db') / f'{label}.db'}"

    yield make
    for name in created:
        drop_postgres_database(name)


@pytest.fixture(scope="session")
def database_urls(empty_database) -> dict[str, str]:
    """One migrated database per service, shared by the session's tests."""
    urls = {service: empty_database(service) for service in SERVICES}
    for service, url in urls.items():
        upgrade(service, url)
    return urls


def token(*roles: str, sub: str = "alice", ttl: timedelta = timedelta(hours=1),
          secret: str = DEV_AUTH_SECRET, skew: timedelta = timedelta(0)) -> str:
    """A token issued now (by the test's clock), or ``skew`` away from now as if by a
    host whose clock is off."""
    issued_at = datetime.now(UTC) + skew
    return issue_token(secret=secret, sub=sub, roles=list(roles), ttl=ttl, issued_at=issued_at)


class Bearer(Mapping[str, str]):
    """``Authorization`` headers whose token is minted each time they are read, so its
    ``iat`` and ``exp`` come from the clock of the request (frozen or travelled by a
    test), never from the moment a module was imported."""

    def __init__(self, *roles: str, sub: str) -> None:
        self.roles, self.sub = roles, sub

    def __getitem__(self, key: str) -> str:
        if key != "Authorization":
            raise KeyError(key)
        return f"Bearer {token(*self.roles, sub=self.sub)}"

    def __iter__(self) -> Iterator[str]:
        return iter(("Authorization",))

    def __len__(self) -> int:
        return 1

    def __or__(self, other: Mapping[str, str]) -> dict[str, str]:
        return {**self, **other}


def auth(*roles: str, sub: str = "alice") -> Bearer:
    return Bearer(*roles, sub=sub)


def registry_settings(url: str):
    from registry.config import RegistrySettings

    # The retention job is driven by the tests that need it (app.state.run_retention).
    return RegistrySettings(WAYMARK_REGISTRY_DATABASE_URL=url, env="test",
                            WAYMARK_REGISTRY_JOBS_SECONDS=0)


@asynccontextmanager
async def rolled_back(app) -> AsyncIterator:
    """Run ``app`` with every session inside one transaction, rolled back at the end
    (the app's own commits become savepoints)."""
    async with LifespanManager(app), app.state.engine.connect() as conn:
        outer = await conn.begin()
        app.state.sessionmaker = async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        yield app
        await outer.rollback()


def client_for(app, name: str) -> httpx.AsyncClient:
    """An in-process client for ``app``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")


@pytest.fixture
async def registry_app(database_urls) -> AsyncIterator:
    """The registry app, every write rolled back after the test."""
    from registry.app import create_app

    async with rolled_back(create_app(registry_settings(database_urls["registry"]))) as app:
        yield app


@pytest.fixture
async def registry(registry_app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(registry_app, "registry") as client:
        yield client


@pytest.fixture
async def fresh_registry_app(empty_database) -> AsyncIterator:
    """The registry on its own new database, committing for real: for tests that need
    several transactions (the change feed's visibility, concurrent writers)."""
    from registry.app import create_app

    url = empty_database(f"registry_{uuid.uuid4().hex[:6]}")
    upgrade("registry", url)
    app = create_app(registry_settings(url))
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def fresh_registry(fresh_registry_app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(fresh_registry_app, "registry") as client:
        yield client


def checkin_settings(url: str, **extra):
    from checkin.config import CheckinSettings

    # Summaries fold the rollups' log themselves; the job would race the tests' deletes.
    quiet = {"WAYMARK_ROLLUP_FOLD_SECONDS": 0}
    return CheckinSettings(WAYMARK_CHECKIN_DATABASE_URL=url, env="test", **{**quiet, **extra})


def notifications_settings(url: str, **extra):
    from notifications.config import NotificationsSettings

    quiet = {"WAYMARK_NOTIFICATIONS_FEED_POLL_SECONDS": 0, "WAYMARK_DISPATCH_SECONDS": 0}
    return NotificationsSettings(WAYMARK_NOTIFICATIONS_DATABASE_URL=url, env="test",
                                 **{**quiet, **extra})
