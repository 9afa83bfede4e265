"""Settings: each service reads its own variables; production refuses development secrets
and needs the identity provider's JWKS, issuer and audience."""

from __future__ import annotations

from datetime import timedelta

import pytest
from checkin.config import CheckinSettings
from cryptography.fernet import Fernet
from pydantic import ValidationError
from registry.config import RegistrySettings

from shared.auth import Lifetimes

PRODUCTION = {
    "WAYMARK_ENV": "production", "WAYMARK_PHONE_HASH_KEY": "h" * 40, "TWILIO_AUTH_TOKEN": "t" * 32,
    "WAYMARK_AUTH_JWKS_URL": "https://idp.example/realms/waymark/protocol/openid-connect/certs",
    "WAYMARK_AUTH_ISSUER": "https://idp.example/realms/waymark", "WAYMARK_AUTH_AUDIENCE": "waymark",
}


def test_each_service_reads_its_own_database_and_port(monkeypatch):
    monkeypatch.setenv("WAYMARK_DATABASE_URL", "postgresql://shared/wrong")
    monkeypatch.setenv("WAYMARK_PORT", "9999")
    monkeypatch.setenv("WAYMARK_REGISTRY_DATABASE_URL", "postgresql://db/registry")
    assert RegistrySettings().database_url == "postgresql://db/registry"
    assert RegistrySettings().port == 8001
    assert CheckinSettings().database_url.endswith("var/checkin.db")


def test_public_url_falls_back_to_the_shared_variable(monkeypatch):
    assert RegistrySettings().base_url == "http://127.0.0.1:8001"
    monkeypatch.setenv("WAYMARK_PUBLIC_URL", "https://waymark.example/")
    assert CheckinSettings().base_url == "https://waymark.example"
    monkeypatch.setenv("WAYMARK_CHECKIN_PUBLIC_URL", "https://checkin.waymark.example")
    assert CheckinSettings().base_url == "https://checkin.waymark.example"


@pytest.mark.parametrize("left_default", [
    "WAYMARK_PHONE_KEYS", "WAYMARK_PHONE_HASH_KEY", "TWILIO_AUTH_TOKEN",
    "WAYMARK_AUTH_JWKS_URL", "WAYMARK_AUTH_ISSUER", "WAYMARK_AUTH_AUDIENCE"])
def test_production_refuses_every_development_secret_and_needs_the_identity_provider(
        monkeypatch, left_default):
    env = PRODUCTION | {"WAYMARK_PHONE_KEYS": Fernet.generate_key().decode()}
    for name, value in env.items():
        if name != left_default:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("WAYMARK_ENV", "production")
    monkeypatch.setenv("WAYMARK_PIN_KEY", "p" * 32)
    # The registry never talks to Twilio (test_the_registry_runs_..._without_twilio).
    settings = CheckinSettings if left_default == "TWILIO_AUTH_TOKEN" else RegistrySettings
    with pytest.raises(ValidationError, match=left_default):
        settings()


def production(monkeypatch, **overrides: str) -> None:
    env = PRODUCTION | {"WAYMARK_PHONE_KEYS": Fernet.generate_key().decode()} | overrides
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_production_starts_with_real_secrets_and_no_development_token_secret(monkeypatch):
    production(monkeypatch)
    settings = RegistrySettings()
    assert settings.env == "production" and not settings.accepts_development_tokens


@pytest.mark.parametrize(("variable", "url"), [
    ("WAYMARK_AUTH_JWKS_URL", "http://idp.example/certs"),
    ("WAYMARK_AUTH_TOKEN_URL", "http://idp.example/token")])
def test_production_fetches_keys_and_tokens_over_https_only(monkeypatch, variable, url):
    client = {"WAYMARK_AUTH_CLIENT_ID": "checkin", "WAYMARK_AUTH_CLIENT_SECRET": "c" * 32,
              "WAYMARK_AUTH_TOKEN_URL": "https://idp.example/token"}
    production(monkeypatch, **(client | {variable: url}))
    with pytest.raises(ValidationError, match=f"{variable} must be an https:// URL"):
        RegistrySettings()


def test_a_jwks_without_issuer_and_audience_is_refused_even_in_development(monkeypatch):
    monkeypatch.setenv("WAYMARK_AUTH_JWKS_URL", "http://127.0.0.1:8080/certs")
    monkeypatch.setenv("WAYMARK_AUTH_ISSUER", "http://127.0.0.1:8080")
    with pytest.raises(ValidationError, match="missing: WAYMARK_AUTH_AUDIENCE"):
        RegistrySettings()


def test_client_credentials_are_all_or_nothing(monkeypatch):
    monkeypatch.setenv("WAYMARK_AUTH_TOKEN_URL", "https://idp.example/token")
    monkeypatch.setenv("WAYMARK_AUTH_CLIENT_ID", "checkin")
    with pytest.raises(ValidationError, match="missing: WAYMARK_AUTH_CLIENT_SECRET"):
        CheckinSettings()


def test_token_lifetimes_are_hours_and_must_be_positive(monkeypatch):
    monkeypatch.setenv("WAYMARK_AUTH_MAX_TOKEN_HOURS", "8")
    monkeypatch.setenv("WAYMARK_AUTH_MAX_SERVICE_TOKEN_HOURS", "1.5")  # Entra's can be 90 min
    assert Lifetimes.from_settings(RegistrySettings()) == Lifetimes(
        person=timedelta(hours=8), service=timedelta(minutes=90))
    monkeypatch.setenv("WAYMARK_AUTH_MAX_SERVICE_TOKEN_HOURS", "0")
    with pytest.raises(ValidationError, match="auth_max_service_token_hours"):
        RegistrySettings()


def test_the_retention_period_is_read_from_its_variable_and_must_be_positive(monkeypatch):
    assert RegistrySettings().retention_days == 365
    monkeypatch.setenv("WAYMARK_RETENTION_DAYS", "30")
    assert RegistrySettings().retention_days == 30
    monkeypatch.setenv("WAYMARK_RETENTION_DAYS", "0")
    with pytest.raises(ValidationError, match="WAYMARK_RETENTION_DAYS"):
        RegistrySettings()


def test_the_registry_runs_in_production_without_twilio_credentials(monkeypatch):
    """Least privilege: the registry neither receives webhooks nor sends, so production
    does not make it hold a Twilio token; checkin and notifications still insist."""
    from notifications.config import NotificationsSettings

    production(monkeypatch, WAYMARK_PIN_KEY="p" * 32)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    assert RegistrySettings().env == "production"
    for settings in (CheckinSettings, NotificationsSettings):
        with pytest.raises(ValidationError, match="TWILIO_AUTH_TOKEN"):
            settings()
