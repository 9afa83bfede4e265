from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.config import ServiceSettings


class CheckinSettings(ServiceSettings):
    service_name: str = "checkin"
    port: int = Field(8002, validation_alias="WAYMARK_CHECKIN_PORT")
    database_url: str = Field(
        "sqlite+aiosqlite:///var/checkin.db", validation_alias="WAYMARK_CHECKIN_DATABASE_URL"
    )
    public_url: str | None = Field(
        None, validation_alias=AliasChoices("WAYMARK_CHECKIN_PUBLIC_URL", "WAYMARK_PUBLIC_URL")
    )
    # How often the registry's change feed is polled; 0 turns the scheduler off (tests
    # drive the consumer themselves).
    feed_poll_seconds: float = Field(2.0, validation_alias="WAYMARK_CHECKIN_FEED_POLL_SECONDS")
