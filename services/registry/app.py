"""The registry's FastAPI app. Engines and clients are made in the lifespan, never at
import, so tests and ``waymark run`` build apps with their own settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from registry.api.cases import router as cases_router
from registry.config import RegistrySettings
from registry.models import ChangeEvent
from shared.changefeed import changes_router
from shared.crypto import PhoneVault
from shared.db import make_engine, make_sessionmaker
from shared.logging import configure_logging
from shared.web import install_common


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        settings.warn_if_insecure()
        app.state.engine = make_engine(settings.database_url)
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    app = FastAPI(title="Waymark registry", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.vault = PhoneVault(keys=settings.phone_keys, hash_key=settings.phone_hash_key)
    install_common(app, max_body_bytes=settings.max_body_bytes)
    app.include_router(cases_router)
    app.include_router(changes_router(ChangeEvent))
    return app
