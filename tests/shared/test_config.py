"""Settings: each service reads its own variables; production refuses development secrets."""

from __future__ import annotations

import pytest
from checkin.config import CheckinSettings
from cryptography.fernet import Fernet
from pydantic import ValidationError
from registry.config import RegistrySettings

PRODUCTION = {
    "WAYMARK_ENV": "production", "WAYMARK_AUTH_SECRET": "s" * 40,
    "WAYMARK_PHONE_HASH_KEY": "h" * 40, "TWILIO_AUTH_TOKEN": "t" * 32,
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
    "WAYMARK_AUTH_SECRET", "WAYMARK_PHONE_KEYS", "WAYMARK_PHONE_HASH_KEY", "TWILIO_AUTH_TOKEN"])
def test_production_refuses_every_development_secret(monkeypatch, left_default):
    env = PRODUCTION | {"WAYMARK_PHONE_KEYS": Fernet.generate_key().decode()}
    for name, value in env.items():
        if name != left_default:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("WAYMARK_ENV", "production")
    with pytest.raises(ValidationError, match=left_default):
        RegistrySettings()


def test_production_starts_with_real_secrets(monkeypatch):
    for name, value in (PRODUCTION | {"WAYMARK_PHONE_KEYS": Fernet.generate_key().decode()}).items():
        monkeypatch.setenv(name, value)
    assert RegistrySettings().env == "production"
