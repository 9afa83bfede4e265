"""``docker-compose.yml`` without a Docker engine: valid against the Compose
specification's JSON schema (vendored: ``compose-spec.json``, from the
compose-spec/compose-spec repository, Apache-2.0), every variable it sets is one the
service reads, each service's production settings validate with what it is given,
every secret comes from the env file, and each service waits for its own migration."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.settings import (
    NOT_SETTINGS,
    SETTINGS,
    env_names,
    is_secret,
    production_settings,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
EXAMPLE_ENV = ROOT / "deploy" / "waymark.env.example"
SCHEMA = Path(__file__).with_name("compose-spec.json")
# The settings each container runs with.
CONTAINERS = {"registry": "registry", "checkin": "checkin", "notifications": "notifications",
              "dispatcher": "notifications", "migrate-registry": "registry",
              "migrate-checkin": "checkin", "migrate-notifications": "notifications"}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in EXAMPLE_ENV.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {name: value for name, value in pairs}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if variables.get(name):
            return variables[name]
        if op in (":-", "-"):
            return arg
        raise AssertionError(f"{name} is required ({arg}) and not in the example env file")
    return _VARIABLE.sub(one, value)


def container_env(service: str) -> dict[str, str]:
    raw = compose()["services"][service].get("environment", {})
    return {name: interpolate(str(value), example_env()) for name, value in raw.items()}


def test_the_file_is_valid_against_the_compose_specification():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(compose(), schema, cls=jsonschema.Draft7Validator)


def test_an_invalid_file_is_caught_by_the_schema():
    broken = compose()
    broken["services"]["registry"]["healthcheck"]["interval"] = ["10s"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(SCHEMA.read_text()), cls=jsonschema.Draft7Validator)


def test_every_container_is_accounted_for():
    assert set(compose()["services"]) == set(CONTAINERS) | {"postgres"}


@pytest.mark.parametrize("container", CONTAINERS)
def test_every_variable_set_is_one_the_service_reads(container):
    known = env_names(SETTINGS[CONTAINERS[container]]) | NOT_SETTINGS
    assert set(container_env(container)) - known == set()


@pytest.mark.parametrize("container", CONTAINERS)
def test_each_container_has_valid_production_settings(container):
    settings = production_settings(CONTAINERS[container], container_env(container))
    assert settings.database_url.startswith("postgresql://")
    assert settings.auth_jwks_url and settings.auth_issuer and settings.auth_audience


def test_secrets_come_from_the_env_file_never_from_this_file():
    for name, service in compose()["services"].items():
        for variable, value in service.get("environment", {}).items():
            if is_secret(variable):
                assert "${" in str(value), (name, variable)


def test_every_variable_the_file_reads_is_in_the_example_env_file():
    used = {m["name"] for m in _VARIABLE.finditer(COMPOSE.read_text())}
    assert used == set(example_env())


def test_services_have_health_checks_and_wait_for_their_own_migration():
    services = compose()["services"]
    for name in ("registry", "checkin", "notifications", "dispatcher"):
        assert services[name]["healthcheck"]["test"], name
        migration = "migrate-notifications" if name == "dispatcher" else f"migrate-{name}"
        assert services[name]["depends_on"] == {
            migration: {"condition": "service_completed_successfully"}}
        assert services[name]["command"][0] == "waymark"
    for name in ("registry", "checkin", "notifications"):
        assert "/readyz" in services[name]["healthcheck"]["test"][-1]
        assert services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp")
    for service in ("registry", "checkin", "notifications"):
        assert services[f"migrate-{service}"]["command"] == [
            "waymark", "migrate", "--service", service]
        assert services[f"migrate-{service}"]["depends_on"]["postgres"] == {
            "condition": "service_healthy"}
    # One sender: the API service leaves sending to the dispatcher.
    assert services["notifications"]["environment"]["WAYMARK_DISPATCH_SECONDS"] == "0"
