"""The checkin service's FastAPI app. Engines, clients and the scheduler are made in the
lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from checkin.config import CheckinSettings
from shared.db import make_engine, make_sessionmaker
from shared.logging import configure_logging
from shared.web import install_common


def create_app(settings: CheckinSettings | None = None) -> FastAPI:
    settings = settings or CheckinSettings()

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

    app = FastAPI(title="Waymark checkin", version="1", lifespan=lifespan)
    app.state.settings = settings
    install_common(app, max_body_bytes=settings.max_body_bytes)
    return app
