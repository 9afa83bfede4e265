"""What the deployment tests check env files and manifests against: every environment
variable each service's settings read, and whether a given environment makes valid
production settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from checkin.config import CheckinSettings
from notifications.config import NotificationsSettings
from pydantic import AliasChoices
from registry.config import RegistrySettings

from shared.config import ServiceSettings

SETTINGS: dict[str, type[ServiceSettings]] = {
    "registry": RegistrySettings, "checkin": CheckinSettings,
    "notifications": NotificationsSettings}
# Read by a library, not by the services' settings.
NOT_SETTINGS = frozenset({"PROMETHEUS_MULTIPROC_DIR"})
# Names whose values are secrets: never written in a deployment file.
SECRET_MARKS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "DATABASE_URL")


def env_names(settings: type[ServiceSettings]) -> set[str]:
    """Every variable the settings read (pydantic-settings: the alias or aliases, else
    the prefix and the field's name), upper case."""
    prefix = settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def is_secret(name: str) -> bool:
    return any(mark in name for mark in SECRET_MARKS) and name != "WAYMARK_AUTH_TOKEN_URL"


@contextmanager
def only_env(env: dict[str, str]) -> Iterator[None]:
    """The process environment as a container would have it: ``env`` and no other
    Waymark or Twilio variable."""
    saved = dict(os.environ)
    try:
        for name in list(os.environ):
            if name.upper().startswith(("WAYMARK_", "TWILIO_")):
                del os.environ[name]
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def production_settings(service: str, env: dict[str, str]) -> ServiceSettings:
    """The service's settings from ``env`` alone; raises if they would not start."""
    with only_env(env):
        settings = SETTINGS[service]()
    assert settings.env == "production", service
    return settings
