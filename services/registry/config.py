from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.config import ServiceSettings


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    port: int = Field(8001, validation_alias="WAYMARK_REGISTRY_PORT")
    database_url: str = Field(
        "sqlite+aiosqlite:///var/registry.db", validation_alias="WAYMARK_REGISTRY_DATABASE_URL"
    )
    public_url: str | None = Field(
        None, validation_alias=AliasChoices("WAYMARK_REGISTRY_PUBLIC_URL", "WAYMARK_PUBLIC_URL")
    )
