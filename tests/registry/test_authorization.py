"""Who may do what: each role against each registry endpoint (the full matrix, with
caseloads, is tests/contracts/test_caseloads.py). The authority role never reaches
personal data; tokens that are missing, expired or forged are 401."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from shared.auth import Role
from tests.conftest import auth, registry_settings, token
from tests.registry.factories import case_body

ROLES = tuple(Role)

# endpoint -> roles that succeed (everyone else: 403)
MATRIX = {
    "create": {"caseworker", "supervisor"},
    "list": {"caseworker", "supervisor"},
    "read": {"caseworker", "supervisor"},
    "patch": {"caseworker", "supervisor"},
    "transition": {"caseworker", "supervisor"},
    "history": {"caseworker", "supervisor"},
    "desk": {"officer", "supervisor"},
    "changes": {"service"},
}
SUCCESS = {"create": 201}


async def call(registry, endpoint: str, case_id: str, headers: dict):
    if endpoint == "create":
        return await registry.post("/v1/cases", json=case_body(), headers=headers)
    if endpoint == "list":
        return await registry.get("/v1/cases", headers=headers)
    if endpoint == "read":
        return await registry.get(f"/v1/cases/{case_id}", headers=headers)
    if endpoint == "patch":
        return await registry.patch(f"/v1/cases/{case_id}", json={"programme": "new_programme"},
                                    headers=headers)
    if endpoint == "transition":
        return await registry.post(f"/v1/cases/{case_id}/transitions",
                                   json={"to": "suspended", "reason": "in hospital"},
                                   headers=headers)
    if endpoint == "history":
        return await registry.get(f"/v1/cases/{case_id}/history", headers=headers)
    if endpoint == "desk":
        reference = (await registry.get(f"/v1/cases/{case_id}",
                                        headers=auth("supervisor"))).json()["reference"]
        return await registry.get("/v1/desk/cases", params={"reference": reference},
                                  headers=headers)
    return await registry.get("/v1/changes", headers=headers)


@pytest.fixture
async def case_id(registry) -> str:
    response = await registry.post("/v1/cases", json=case_body(), headers=auth("caseworker"))
    return response.json()["id"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", MATRIX)
async def test_role_matrix(registry, case_id, endpoint, role):
    response = await call(registry, endpoint, case_id, auth(role))
    expected = SUCCESS.get(endpoint, 200) if role in MATRIX[endpoint] else 403
    assert response.status_code == expected, response.text
    if expected == 403:
        assert response.headers["content-type"] == "application/problem+json"
        assert "Amina" not in response.text and "+44" not in response.text


@pytest.mark.parametrize("endpoint", MATRIX)
@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer not-a-jwt"},
    {"Authorization": f"Bearer {token('caseworker', ttl=timedelta(minutes=-5))}"},
    {"Authorization": f"Bearer {token('caseworker', secret='someone-elses-secret-0123456789')}"},
    {"Authorization": f"Basic {token('caseworker')}"},
], ids=["missing", "garbage", "expired", "forged", "wrong-scheme"])
async def test_without_a_valid_token_every_endpoint_is_401(registry, case_id, endpoint, headers):
    response = await call(registry, endpoint, case_id, headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("skew", "ttl", "status"), [
    (timedelta(seconds=20), timedelta(hours=1), 200),  # issuer's clock 20 s ahead
    (timedelta(seconds=-20), timedelta(seconds=10), 200),  # expired 10 s ago by our clock
    (timedelta(minutes=2), timedelta(hours=1), 401),  # "issued" beyond the leeway
    (timedelta(minutes=-2), timedelta(minutes=1), 401),  # expired beyond the leeway
], ids=["ahead-within", "expired-within", "ahead-beyond", "expired-beyond"])
async def test_clock_skew_within_the_leeway_is_forgiven(registry, skew, ttl, status):
    headers = {"Authorization": f"Bearer {token('caseworker', skew=skew, ttl=ttl)}"}
    assert (await registry.get("/v1/cases", headers=headers)).status_code == status


async def test_health_needs_no_token(database_urls):
    from asgi_lifespan import LifespanManager
    from registry.app import create_app

    app = create_app(registry_settings(database_urls["registry"]))
    async with LifespanManager(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registry"
    ) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    from asgi_lifespan import LifespanManager
    from registry.app import create_app

    url = "postgresql://postgres@127.0.0.1:1/nowhere"
    app = create_app(registry_settings(url))
    async with LifespanManager(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registry"
    ) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
