"""The checkin service's FastAPI app. Engines, clients and the scheduler are made in the
lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI

from checkin.config import CheckinSettings
from checkin.models import ChangeEvent, FeedCursor
from checkin.service import apply_registry_change
from shared.changefeed import FeedConsumer, changes_router
from shared.http import ServiceTokenAuth, make_client
from shared.web import install_common, service_lifespan


def create_app(settings: CheckinSettings | None = None) -> FastAPI:
    settings = settings or CheckinSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app, settings):
            async with _registry_feed(app, settings):
                yield

    app = FastAPI(title="Waymark checkin", version="1", lifespan=lifespan)
    app.state.settings = settings
    install_common(app, max_body_bytes=settings.max_body_bytes)
    app.include_router(changes_router(ChangeEvent))
    return app


@asynccontextmanager
async def _registry_feed(app: FastAPI, settings: CheckinSettings) -> AsyncIterator[None]:
    """The registry's feed client, its consumer and the scheduler that ticks it."""
    app.state.registry_client = make_client(
        settings.registry_url, timeout=settings.http_timeout_seconds,
        auth=ServiceTokenAuth(secret=settings.auth_secret, sub="checkin"),
    )
    app.state.registry_feed = FeedConsumer(
        feed="registry", client=app.state.registry_client,
        sessionmaker=app.state.sessionmaker, cursor_table=FeedCursor,
        apply=apply_registry_change,
    )
    scheduler = app.state.scheduler = AsyncIOScheduler(timezone="UTC")
    if settings.feed_poll_seconds > 0:
        # A ticker only: the work and its progress live in the database.
        scheduler.add_job(
            app.state.registry_feed.tick, "interval", seconds=settings.feed_poll_seconds,
            id="registry-feed", max_instances=1, coalesce=True, misfire_grace_time=30,
        )
        scheduler.start()
    try:
        yield
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        await app.state.registry_client.aclose()
