"""The registry's FastAPI app. Engines and clients are made in the lifespan, never at
import, so tests and ``waymark run`` build apps with their own settings."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from registry.api.cases import router as cases_router
from registry.api.desk import router as desk_router
from registry.config import RegistrySettings
from registry.models import AuditEntry, AuditHead, ChangeEvent
from shared.audit import AuditTables, install_audit
from shared.changefeed import changes_router
from shared.crypto import PhoneVault
from shared.web import install_common, service_lifespan


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    app = FastAPI(title="Waymark registry", version="1",
                  lifespan=partial(service_lifespan, settings=settings))
    app.state.settings = settings
    app.state.vault = PhoneVault(keys=settings.phone_keys, hash_key=settings.phone_hash_key)
    install_common(app, max_body_bytes=settings.max_body_bytes)
    app.include_router(cases_router)
    app.include_router(desk_router)
    app.include_router(changes_router(ChangeEvent))
    install_audit(app, AuditTables(entry=AuditEntry, head=AuditHead))
    return app
