"""The checkin service's FastAPI app. Engines, clients and the scheduler are made in the
lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from checkin import folding, jobs
from checkin.api import cases, checkins, desk, follow_ups, outages, summaries, twilio
from checkin.api.deps import pin_policy
from checkin.bitmap_cache import BitmapCache
from checkin.config import CheckinSettings
from checkin.feeds import apply_notifications_change, apply_registry_change
from checkin.models import AuditEntry, AuditHead, ChangeEvent, FeedCursor
from checkin.texts import languages
from shared.audit import AuditTables, install_audit
from shared.changefeed import FeedConsumer, changes_router
from shared.crypto import PhoneVault
from shared.db import make_sync_engine
from shared.http import make_client, service_auth
from shared.shutdown import stop_scheduler
from shared.web import install_common, service_lifespan


def create_app(settings: CheckinSettings | None = None) -> FastAPI:
    settings = settings or CheckinSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        languages()  # a broken translation fails the start, not a person's check-in
        app.state.vault = PhoneVault(keys=settings.phone_keys, hash_key=settings.phone_hash_key)
        app.state.twilio_validator = RequestValidator(settings.twilio_auth_token)
        app.state.pin_policy = pin_policy(settings)
        app.state.bitmap_cache = BitmapCache(settings.summary_cache_mib * 2**20)
        async with service_lifespan(app, settings), _background(app, settings):
            yield

    app = FastAPI(title="Waymark checkin", version="1", lifespan=lifespan)
    app.state.settings = settings
    install_common(app, max_body_bytes=settings.max_body_bytes)
    for module in (cases, checkins, desk, follow_ups, outages, summaries, twilio):
        app.include_router(module.router)
    app.include_router(changes_router(ChangeEvent))
    install_audit(app, AuditTables(entry=AuditEntry, head=AuditHead))
    return app


@asynccontextmanager
async def _background(app: FastAPI, settings: CheckinSettings) -> AsyncIterator[None]:
    """The registry's and notifications' feed consumers, and the scheduler that ticks
    them and the jobs."""
    horizon = timedelta(days=settings.schedule_horizon_days)
    auth = service_auth(settings, sub="checkin")  # one token, for calls to either
    app.state.registry_client = make_client(
        settings.registry_url, timeout=settings.http_timeout_seconds, auth=auth)
    app.state.registry_feed = FeedConsumer(
        feed="registry", client=app.state.registry_client,
        sessionmaker=app.state.sessionmaker, cursor_table=FeedCursor,
        apply=partial(apply_registry_change, horizon_days=settings.schedule_horizon_days),
    )
    app.state.notifications_client = make_client(
        settings.notifications_url, timeout=settings.http_timeout_seconds, auth=auth)
    app.state.notifications_feed = FeedConsumer(
        feed="notifications", client=app.state.notifications_client,
        sessionmaker=app.state.sessionmaker, cursor_table=FeedCursor,
        apply=apply_notifications_change,
    )

    async def poll_feeds() -> None:
        await app.state.registry_feed.tick()
        await app.state.notifications_feed.tick()

    async def run_jobs() -> None:
        # The sessionmaker is looked up per run, so one swapped in later (tests) is used.
        await jobs.tick(app.state.sessionmaker, horizon=horizon)

    app.state.fold_engine = make_sync_engine(settings.database_url)

    async def fold_rollups() -> None:
        await folding.tick(app.state.fold_engine)

    app.state.run_jobs = run_jobs
    scheduler = app.state.scheduler = AsyncIOScheduler(timezone="UTC")
    # A ticker only: the work and its progress live in the database.
    if settings.feed_poll_seconds > 0:
        scheduler.add_job(
            poll_feeds, "interval", seconds=settings.feed_poll_seconds, id="feeds",
            max_instances=1, coalesce=True, misfire_grace_time=30,
        )
    if settings.jobs_seconds > 0:
        scheduler.add_job(
            app.state.run_jobs, "interval", seconds=settings.jobs_seconds, id="checkin-jobs",
            max_instances=1, coalesce=True, misfire_grace_time=300,
        )
    if settings.rollup_fold_seconds > 0:
        scheduler.add_job(
            fold_rollups, "interval",
            seconds=settings.rollup_fold_seconds, id="rollups", max_instances=1,
            coalesce=True, misfire_grace_time=30,
        )
    if scheduler.get_jobs():
        scheduler.start()
    try:
        yield
    finally:
        await stop_scheduler(scheduler)  # its running jobs end before what they use closes
        app.state.fold_engine.dispose()
        await app.state.registry_client.aclose()
        await app.state.notifications_client.aclose()
