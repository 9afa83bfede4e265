"""Settings base shared by every service (pydantic-settings, ``WAYMARK_`` prefix)."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("waymark.config")

DEV_AUTH_SECRET = "dev-secret-change-me"
DEV_TWILIO_TOKEN = "dev-twilio-token"
# Development-only keys: fixed so a developer's var/ databases stay readable across
# restarts. Production refuses to start with them (see ``check_production``).
DEV_PHONE_KEY = "ZGV2LW9ubHktcGhvbmUta2V5LWNoYW5nZS1tZS0xMjM="
DEV_PHONE_HASH_KEY = "dev-only-phone-hash-key-change-me"

SUPPORTED_LANGUAGES = ("en", "fr", "ar", "es")


class ServiceSettings(BaseSettings):
    """Settings every service reads. Each service subclasses it with its own name,
    port and database URL."""

    model_config = SettingsConfigDict(env_prefix="WAYMARK_", extra="ignore")

    service_name: str = "waymark"
    port: int = 8000
    env: Literal["development", "test", "production"] = "development"
    auth_secret: str = DEV_AUTH_SECRET
    # Clock skew forgiven when checking a token's exp/iat/nbf (hosts drift apart).
    auth_leeway_seconds: float = Field(30.0, ge=0, le=300)
    # Public base URL Twilio calls (used to validate webhook signatures behind a proxy).
    public_url: str | None = None
    # Fernet keys, comma-separated, newest first: MultiFernet encrypts with the first
    # and decrypts with any, so keys rotate without a flag day.
    phone_keys: str = DEV_PHONE_KEY
    # HMAC key for the phone lookup hash; shared by the services that look up by number.
    phone_hash_key: str = DEV_PHONE_HASH_KEY
    languages: str = ",".join(SUPPORTED_LANGUAGES)
    log_level: str = "INFO"
    max_body_bytes: int = 64 * 1024
    registry_url: str = "http://127.0.0.1:8001"
    checkin_url: str = "http://127.0.0.1:8002"
    notifications_url: str = "http://127.0.0.1:8003"
    http_timeout_seconds: float = 5.0
    twilio_auth_token: str = Field(DEV_TWILIO_TOKEN, validation_alias="TWILIO_AUTH_TOKEN")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def language_list(self) -> tuple[str, ...]:
        return tuple(code.strip() for code in self.languages.split(",") if code.strip())

    @model_validator(mode="after")
    def check_production(self) -> ServiceSettings:
        insecure = {
            "WAYMARK_AUTH_SECRET": self.auth_secret == DEV_AUTH_SECRET,
            "WAYMARK_PHONE_KEYS": DEV_PHONE_KEY in self.phone_keys.split(","),
            "WAYMARK_PHONE_HASH_KEY": self.phone_hash_key == DEV_PHONE_HASH_KEY,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token == DEV_TWILIO_TOKEN,
        }
        bad = [name for name, is_default in insecure.items() if is_default]
        if self.env == "production":
            if bad:
                raise ValueError(f"production needs real secrets; still at the default: "
                                 f"{', '.join(bad)}")
            if len(self.auth_secret.encode()) < 32:
                raise ValueError("WAYMARK_AUTH_SECRET must be at least 32 bytes in production")
        return self

    def warn_if_insecure(self) -> None:
        """Say loudly at start-up that development secrets are in use."""
        if self.auth_secret == DEV_AUTH_SECRET:
            log.warning(
                "WAYMARK_AUTH_SECRET is not set: using the development secret %r. "
                "Anyone can mint tokens. Never run like this with real people's data.",
                DEV_AUTH_SECRET,
            )
        if DEV_PHONE_KEY in self.phone_keys.split(",") or self.phone_hash_key == DEV_PHONE_HASH_KEY:
            log.warning("Phone numbers are protected with development keys: set "
                        "WAYMARK_PHONE_KEYS and WAYMARK_PHONE_HASH_KEY before real use.")
