from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field

from shared.config import ServiceSettings


class RegistrySettings(ServiceSettings):
    # No webhook and no send: the registry holds no Twilio credentials.
    uses_twilio: ClassVar[bool] = False
    service_name: str = "registry"
    port: int = Field(8001, validation_alias="WAYMARK_REGISTRY_PORT")
    database_url: str = Field(
        "sqlite+aiosqlite:///var/registry.db", validation_alias="WAYMARK_REGISTRY_DATABASE_URL"
    )
    public_url: str | None = Field(
        None, validation_alias=AliasChoices("WAYMARK_REGISTRY_PUBLIC_URL", "WAYMARK_PUBLIC_URL")
    )
    # Retention: how long after a case ends (closed, or resolved) the person's data is
    # kept before the retention job erases it (``registry.erasure``).
    retention_days: int = Field(365, ge=1, le=36500, validation_alias="WAYMARK_RETENTION_DAYS")
    # How often the retention job runs; 0 turns it off (tests drive it themselves).
    jobs_seconds: float = Field(3600.0, ge=0, validation_alias="WAYMARK_REGISTRY_JOBS_SECONDS")
