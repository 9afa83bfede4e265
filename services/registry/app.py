"""The registry's FastAPI app. Engines and clients are made in the lifespan, never at
import, so tests and ``waymark run`` build apps with their own settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from fastapi import FastAPI

from registry import erasure
from registry.api.cases import router as cases_router
from registry.api.desk import router as desk_router
from registry.config import RegistrySettings
from registry.models import AuditEntry, AuditHead, ChangeEvent
from shared.audit import AuditTables, install_audit
from shared.changefeed import changes_router
from shared.crypto import PhoneVault
from shared.shutdown import stop_scheduler
from shared.web import install_common, service_lifespan


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app, settings), _background(app, settings):
            yield

    app = FastAPI(title="Waymark registry", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.vault = PhoneVault(keys=settings.phone_keys, hash_key=settings.phone_hash_key)
    install_common(app, max_body_bytes=settings.max_body_bytes)
    app.include_router(cases_router)
    app.include_router(desk_router)
    app.include_router(changes_router(ChangeEvent))
    install_audit(app, AuditTables(entry=AuditEntry, head=AuditHead))
    return app


@asynccontextmanager
async def _background(app: FastAPI, settings: RegistrySettings) -> AsyncIterator[None]:
    """The retention job, ticked by APScheduler: the work is claimed in the database
    (``registry.erasure.erase_due``), so replicas ticking at once never erase a case
    twice."""
    retention = timedelta(days=settings.retention_days)

    async def run_retention() -> None:
        # The sessionmaker is looked up per run, so one swapped in later (tests) is used.
        await erasure.run_retention(app.state.sessionmaker, retention=retention)

    app.state.run_retention = run_retention
    scheduler = app.state.scheduler = AsyncIOScheduler(timezone="UTC")
    if settings.jobs_seconds > 0:
        scheduler.add_job(run_retention, "interval", seconds=settings.jobs_seconds,
                          id="registry-retention", max_instances=1, coalesce=True,
                          misfire_grace_time=600)
        scheduler.start()
    try:
        yield
    finally:
        await stop_scheduler(scheduler)  # its running job ends before what it uses closes
