"""The notifications service's FastAPI app. Engines, clients and the scheduler are made in the
lifespan, never at import."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from notifications.config import NotificationsSettings
from shared.web import install_common, service_lifespan


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    app = FastAPI(title="Waymark notifications", version="1",
                  lifespan=partial(service_lifespan, settings=settings))
    app.state.settings = settings
    install_common(app, max_body_bytes=settings.max_body_bytes)
    return app
