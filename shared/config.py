"""Settings base shared by every service (pydantic-settings, ``WAYMARK_`` prefix)."""

from __future__ import annotations

import logging
from typing import ClassVar, Literal
from urllib.parse import urlsplit

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

    # Whether the service talks to Twilio (webhooks or sends): only then is its token a
    # secret it must hold, and a default one refused in production.
    uses_twilio: ClassVar[bool] = True

    model_config = SettingsConfigDict(env_prefix="WAYMARK_", extra="ignore")

    service_name: str = "waymark"
    port: int = 8000
    env: Literal["development", "test", "production"] = "development"
    auth_secret: str = DEV_AUTH_SECRET
    # Clock skew forgiven when checking a token's exp/iat/nbf (hosts drift apart).
    auth_leeway_seconds: float = Field(30.0, ge=0, le=300)
    # The organisation's identity provider: RS256/ES256 tokens verified against its
    # JWKS, with this issuer and audience. Required in production, where HS256 is refused.
    auth_jwks_url: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    # Where the roles are: a claim name, or a dotted path into nested objects
    # (Keycloak: ``realm_access.roles``). A claim whose name itself holds dots wins.
    auth_roles_claim: str = Field("roles", min_length=1)
    # Longest token accepted (exp - iat): tokens for people, and tokens with the
    # ``service`` role.
    auth_max_token_hours: float = Field(12.0, gt=0, le=24 * 31)
    auth_max_service_token_hours: float = Field(1.0, gt=0, le=24)
    # An unknown key id refetches the JWKS at most this often (a flood of made-up kids
    # must not become a flood of requests to the identity provider).
    auth_jwks_refresh_cooldown_seconds: float = Field(30.0, ge=0, le=3600)
    # OAuth2 client credentials: how a service gets its own token from the identity
    # provider to call another service (production); development mints HS256 ones.
    auth_token_url: str | None = None
    auth_client_id: str | None = None
    auth_client_secret: str | None = None
    auth_client_scope: str | None = None
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

    @property
    def accepts_development_tokens(self) -> bool:
        """HS256 tokens signed with ``auth_secret``: development and the test suite only."""
        return self.env != "production"

    @property
    def uses_client_credentials(self) -> bool:
        return self.auth_token_url is not None

    @model_validator(mode="after")
    def check_auth(self) -> ServiceSettings:
        identity_provider = {"WAYMARK_AUTH_JWKS_URL": self.auth_jwks_url,
                             "WAYMARK_AUTH_ISSUER": self.auth_issuer,
                             "WAYMARK_AUTH_AUDIENCE": self.auth_audience}
        # Without an issuer and an audience, any token the provider signs for any other
        # application would be accepted here.
        missing = [name for name, value in identity_provider.items() if not value]
        if missing and (self.env == "production" or self.auth_jwks_url):
            raise ValueError(f"tokens from the identity provider need all of "
                             f"{', '.join(identity_provider)}; missing: {', '.join(missing)}")
        client = {"WAYMARK_AUTH_TOKEN_URL": self.auth_token_url,
                  "WAYMARK_AUTH_CLIENT_ID": self.auth_client_id,
                  "WAYMARK_AUTH_CLIENT_SECRET": self.auth_client_secret}
        missing = [name for name, value in client.items() if not value]
        if missing and len(missing) < len(client):
            raise ValueError(f"OAuth2 client credentials need all of {', '.join(client)}; "
                             f"missing: {', '.join(missing)}")
        if self.env == "production":
            for name, url in (("WAYMARK_AUTH_JWKS_URL", self.auth_jwks_url),
                              ("WAYMARK_AUTH_TOKEN_URL", self.auth_token_url)):
                if url and not _secure_url(url):
                    raise ValueError(f"{name} must be an https:// URL in production")
        return self

    @model_validator(mode="after")
    def check_production(self) -> ServiceSettings:
        insecure = {
            "WAYMARK_PHONE_KEYS": DEV_PHONE_KEY in self.phone_keys.split(","),
            "WAYMARK_PHONE_HASH_KEY": self.phone_hash_key == DEV_PHONE_HASH_KEY,
            "TWILIO_AUTH_TOKEN": self.uses_twilio and self.twilio_auth_token == DEV_TWILIO_TOKEN,
        }
        bad = [name for name, is_default in insecure.items() if is_default]
        if self.env == "production" and bad:
            raise ValueError(f"production needs real secrets; still at the default: "
                             f"{', '.join(bad)}")
        return self

    def warn_if_insecure(self) -> None:
        """Say loudly at start-up that development secrets are in use."""
        if self.accepts_development_tokens and self.auth_secret == DEV_AUTH_SECRET:
            log.warning(
                "WAYMARK_AUTH_SECRET is not set: using the development secret %r. "
                "Anyone can mint tokens. Never run like this with real people's data.",
                DEV_AUTH_SECRET,
            )
        if DEV_PHONE_KEY in self.phone_keys.split(",") or self.phone_hash_key == DEV_PHONE_HASH_KEY:
            log.warning("Phone numbers are protected with development keys: set "
                        "WAYMARK_PHONE_KEYS and WAYMARK_PHONE_HASH_KEY before real use.")


def _secure_url(url: str) -> bool:
    """https, or plain http to this very host (nothing on the wire to intercept)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost"))
