"""The notifications service's FastAPI app. Engines, clients, the provider and the
scheduler are made in the lifespan, never at import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from notifications.api import cases, twilio
from notifications.config import NotificationsSettings
from notifications.copies import apply_checkin_change, apply_registry_change
from notifications.dispatch import Dispatcher, DispatchPolicy, Stats
from notifications.enums import Provider as ProviderName
from notifications.models import AuditEntry, AuditHead, ChangeEvent, FeedCursor
from notifications.planner import Planner
from notifications.providers import LogProvider, Provider, TwilioProvider
from notifications.templates import all_templates
from shared.audit import AuditTables, install_audit
from shared.changefeed import FeedConsumer, changes_router
from shared.crypto import PhoneVault
from shared.db import make_engine, make_sessionmaker
from shared.http import make_client, service_auth
from shared.shutdown import stop_scheduler
from shared.web import install_common, service_lifespan


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        all_templates()  # a broken template fails the start, not a send
        app.state.vault = PhoneVault(keys=settings.phone_keys, hash_key=settings.phone_hash_key)
        app.state.twilio_validator = RequestValidator(settings.twilio_auth_token)
        async with service_lifespan(app, settings), _background(app, settings):
            yield

    app = FastAPI(title="Waymark notifications", version="1", lifespan=lifespan)
    app.state.settings = settings
    install_common(app, max_body_bytes=settings.max_body_bytes)
    app.include_router(cases.router)
    app.include_router(twilio.router)
    app.include_router(changes_router(ChangeEvent))
    install_audit(app, AuditTables(entry=AuditEntry, head=AuditHead))
    return app


def make_provider(settings: NotificationsSettings,
                  sessionmaker: Callable[[], async_sessionmaker[AsyncSession]]) -> Provider:
    """The configured provider. ``sessionmaker`` is a getter, looked up per send, so one
    swapped in later (tests) is the one the log provider writes with."""
    if settings.provider == ProviderName.twilio:
        return TwilioProvider(
            account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_from_number, api_base=settings.twilio_api_base,
            timeout=settings.http_timeout_seconds,
            checkin_voice_url=f"{settings.checkin_public_url.rstrip('/')}/v1/twilio/voice")
    return LogProvider(sessionmaker)


def make_dispatcher(settings: NotificationsSettings, *,
                    sessionmaker: async_sessionmaker[AsyncSession], provider: Provider,
                    vault: PhoneVault) -> Dispatcher:
    return Dispatcher(
        sessionmaker=sessionmaker, provider=provider, vault=vault,
        status_callback=settings.status_callback_url, planner=planner(settings),
        policy=DispatchPolicy(
            rate=settings.send_rate, batch=settings.dispatch_batch,
            concurrency=settings.dispatch_concurrency,
            lease=timedelta(seconds=settings.lease_seconds),
            retry_first=timedelta(seconds=settings.retry_first_seconds),
            retry_max=timedelta(seconds=settings.retry_max_seconds)))


def dispatcher(app: FastAPI) -> Dispatcher:
    """A dispatcher over the app's current database, provider and settings."""
    return make_dispatcher(app.state.settings, sessionmaker=app.state.sessionmaker,
                           provider=app.state.provider, vault=app.state.vault)


async def run_dispatcher(settings: NotificationsSettings, *, until_idle: bool = False) -> Stats:
    """The dispatcher on its own, without the HTTP service (``waymark dispatch``): a
    worker to scale sending apart from the API. ``until_idle`` stops when nothing due
    is left."""
    engine = make_engine(settings.database_url, pool_size=4)
    sessionmaker = make_sessionmaker(engine)
    provider = make_provider(settings, lambda: sessionmaker)
    worker = make_dispatcher(settings, sessionmaker=sessionmaker, provider=provider,
                             vault=PhoneVault(keys=settings.phone_keys,
                                              hash_key=settings.phone_hash_key))
    total = Stats()
    try:
        while True:
            total.add(await worker.drain())
            if until_idle:
                return total
            await asyncio.sleep(settings.dispatch_seconds or 1.0)
    finally:
        await provider.aclose()
        await engine.dispose()


def planner(settings: NotificationsSettings) -> Planner:
    return Planner(policy_for=settings.policy_for, checkin_number=settings.checkin_number)


def feeds(app: FastAPI) -> list[FeedConsumer]:
    """The registry's and checkin's feed consumers, over the app's current database."""
    common = {"planner": planner(app.state.settings)}
    return [
        FeedConsumer(feed="registry", client=app.state.registry_client,
                     sessionmaker=app.state.sessionmaker, cursor_table=FeedCursor,
                     apply=partial(apply_registry_change, **common)),
        FeedConsumer(feed="checkin", client=app.state.checkin_client,
                     sessionmaker=app.state.sessionmaker, cursor_table=FeedCursor,
                     apply=partial(apply_checkin_change, **common)),
    ]


@asynccontextmanager
async def _background(app: FastAPI, settings: NotificationsSettings) -> AsyncIterator[None]:
    """The provider, the two feed consumers and the dispatcher, ticked by the scheduler."""
    auth = service_auth(settings, sub="notifications")
    app.state.registry_client = make_client(settings.registry_url, auth=auth,
                                            timeout=settings.http_timeout_seconds)
    app.state.checkin_client = make_client(settings.checkin_url, auth=auth,
                                           timeout=settings.http_timeout_seconds)
    app.state.provider = make_provider(settings, lambda: app.state.sessionmaker)

    # Kept for the app's life: a stalled feed's backoff and what /readyz shows of it
    # live on the consumer.
    app.state.registry_feed, app.state.checkin_feed = feeds(app)

    async def poll_feeds() -> None:
        # Registry first: a contact known before its check-ins arrive plans in one go.
        for feed in (app.state.registry_feed, app.state.checkin_feed):
            await feed.tick()

    async def dispatch() -> None:
        await dispatcher(app).tick()

    app.state.poll_feeds, app.state.dispatch = poll_feeds, dispatch
    scheduler = app.state.scheduler = AsyncIOScheduler(timezone="UTC")
    # A ticker only: the outbox and the cursors live in the database.
    if settings.feed_poll_seconds > 0:
        scheduler.add_job(poll_feeds, "interval", seconds=settings.feed_poll_seconds,
                          id="feeds", max_instances=1, coalesce=True, misfire_grace_time=30)
    if settings.dispatch_seconds > 0:
        scheduler.add_job(dispatch, "interval", seconds=settings.dispatch_seconds,
                          id="dispatch", max_instances=1, coalesce=True, misfire_grace_time=30)
    if scheduler.get_jobs():
        scheduler.start()
    try:
        yield
    finally:
        await stop_scheduler(scheduler)  # its running jobs end before what they use closes
        await app.state.provider.aclose()
        await app.state.registry_client.aclose()
        await app.state.checkin_client.aclose()
