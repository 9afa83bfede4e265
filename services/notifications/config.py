from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.config import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    port: int = Field(8003, validation_alias="WAYMARK_NOTIFICATIONS_PORT")
    database_url: str = Field(
        "sqlite+aiosqlite:///var/notifications.db", validation_alias="WAYMARK_NOTIFICATIONS_DATABASE_URL"
    )
    public_url: str | None = Field(
        None, validation_alias=AliasChoices("WAYMARK_NOTIFICATIONS_PUBLIC_URL", "WAYMARK_PUBLIC_URL")
    )
