"""The bare endpoint the check-in benchmark compares against: the same FastAPI, engine,
pool and session dependency as the checkin service, and one INSERT per request."""

from __future__ import annotations

import sqlalchemy as sa
from checkin.config import CheckinSettings
from fastapi import FastAPI

from shared.db import SessionDep
from shared.web import install_common, service_lifespan


def create_app() -> FastAPI:
    settings = CheckinSettings()
    app = FastAPI(lifespan=lambda app: service_lifespan(app, settings))
    app.state.settings = settings
    install_common(app, max_body_bytes=settings.max_body_bytes)

    @app.post("/bare")
    async def bare(body: dict, session: SessionDep) -> dict:
        await session.execute(sa.text("INSERT INTO bench_bare (body) VALUES (:body)"),
                              {"body": str(body)})
        return {"ok": True}

    return app
