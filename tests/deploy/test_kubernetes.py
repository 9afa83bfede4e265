"""``deploy/k8s/`` without a cluster: every manifest valid against the Kubernetes API's
schema (``kubernetes-validate``, strict: an unknown field fails), a Deployment, a
Service and a PodDisruptionBudget per service, the dispatcher, a migration Job per
service, probes on /healthz and /readyz, requests and limits everywhere, every secret
from the Secret, and each container's environment known to and valid for its service's
production settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.settings import (
    NOT_SETTINGS,
    SETTINGS,
    env_names,
    is_secret,
    production_settings,
)

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = "1.30.0"
SERVICES = ("registry", "checkin", "notifications")


def documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def containers() -> list[tuple[str, dict[str, Any]]]:
    """(workload name, container) for every Deployment and Job."""
    return [(name, container) for kind in ("Deployment", "Job")
            for name, doc in by_kind(kind).items()
            for container in doc["spec"]["template"]["spec"]["containers"]]


def service_of(container: dict[str, Any]) -> str:
    """Whose settings the container runs with (its command names the service)."""
    command = container["command"]
    if command[:2] == ["waymark", "dispatch"]:
        return "notifications"
    return next(word for word in command if word in SERVICES)


def resolved_env(container: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """The container's variables (ConfigMap values, secret placeholders) and which of
    them come from the Secret."""
    config_maps = by_kind("ConfigMap")
    env: dict[str, str] = {}
    from_secret: set[str] = set()
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]].get("data") or {})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "waymark"
            from_secret.add(item["name"])
            env[item["name"]] = (f"postgresql://waymark:x@postgres:5432/{ref['key']}"
                                 if item["name"].endswith("DATABASE_URL")
                                 else f"from-the-secret-{ref['key']}")
    return env, from_secret


@pytest.mark.parametrize("doc", documents(),
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_for_the_api(doc):
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_an_invalid_manifest_is_caught():
    broken = by_kind("Deployment")["registry"]
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_a_deployment_service_and_budget_per_service_and_the_dispatcher():
    deployments, services = by_kind("Deployment"), by_kind("Service")
    budgets = by_kind("PodDisruptionBudget")
    assert set(deployments) == {*SERVICES, "dispatcher"}
    assert set(services) == set(SERVICES)
    assert set(budgets) == set(deployments)
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert deployment["spec"]["replicas"] >= 2  # a budget of one unavailable leaves one
        if name in SERVICES:
            assert services[name]["spec"]["selector"].items() <= labels.items()
    assert by_kind("Deployment")["dispatcher"]["spec"]["template"]["spec"]["containers"][0][
        "command"][:2] == ["waymark", "dispatch"]


def test_a_migration_job_per_service():
    jobs = by_kind("Job")
    assert {job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
            for job in jobs.values()} == set(SERVICES)
    for job in jobs.values():
        assert job["spec"]["template"]["spec"]["containers"][0]["command"][:3] == [
            "waymark", "migrate", "--service"]


def test_services_are_probed_on_healthz_and_readyz():
    for name in SERVICES:
        [container] = by_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["command"][:3] == ["waymark", "serve", name]


@pytest.mark.parametrize(("workload", "container"), containers(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_every_container_is_bounded_unprivileged_and_configured(workload, container):
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    service = service_of(container)
    env, from_secret = resolved_env(container)
    # Nothing unknown to the service; every secret from the Secret, never a value here.
    assert set(env) - (env_names(SETTINGS[service]) | NOT_SETTINGS) == set(), workload
    assert {name for name in env if is_secret(name)} == from_secret, workload
    production_settings(service, env)


def test_pods_run_as_a_non_root_user():
    for kind in ("Deployment", "Job"):
        for name, doc in by_kind(kind).items():
            security = doc["spec"]["template"]["spec"]["securityContext"]
            assert security["runAsNonRoot"] is True and security["runAsUser"] != 0, name
            # Bounded shutdown: the services stop within 10 s of SIGTERM.
            if kind == "Deployment":
                assert doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 10
