"""The inter-service client retries a bounded number of times, and only when safe; a
service proves itself with a development token, or in production with a token from the
identity provider by OAuth2 client credentials (against a token endpoint served here)."""

from __future__ import annotations

import httpx
import pytest

from shared.auth import decode_token
from shared.http import (
    ClientCredentialsAuth,
    RetryTransport,
    ServiceTokenAuth,
    ServiceTokenError,
    make_client,
    service_auth,
)
from tests.conftest import rolled_back
from tests.shared.test_auth import PRODUCTION, FakeIdentityProvider, registry_settings


def flaky(statuses: list[int]):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(statuses[min(len(calls), len(statuses)) - 1])

    return httpx.MockTransport(handler), calls


async def test_get_is_retried_on_503_then_succeeds():
    transport, calls = flaky([503, 503, 200])
    async with make_client("http://x", transport=transport, attempts=3) as client:
        client._transport = RetryTransport(transport, attempts=3, backoff=0)
        assert (await client.get("/v1/changes")).status_code == 200
    assert len(calls) == 3


async def test_retries_are_bounded():
    transport, calls = flaky([503])
    client = httpx.AsyncClient(transport=RetryTransport(transport, attempts=4, backoff=0),
                               base_url="http://x")
    assert (await client.get("/")).status_code == 503
    assert len(calls) == 4


async def test_post_is_never_retried():
    transport, calls = flaky([503, 200])
    client = httpx.AsyncClient(transport=RetryTransport(transport, attempts=3, backoff=0),
                               base_url="http://x")
    assert (await client.post("/v1/things", json={})).status_code == 503
    assert len(calls) == 1


async def test_connection_errors_are_retried_then_raised():
    calls = 0

    def down(request):
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    client = httpx.AsyncClient(
        transport=RetryTransport(httpx.MockTransport(down), attempts=3, backoff=0),
        base_url="http://x")
    with pytest.raises(httpx.ConnectError):
        await client.get("/")
    assert calls == 3


async def test_service_auth_signs_requests_with_a_service_token():
    seen = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200))
    client = httpx.AsyncClient(transport=transport, base_url="http://x",
                               auth=ServiceTokenAuth(secret="s" * 32, sub="checkin"))
    await client.get("/")
    principal = decode_token(seen[0].headers["Authorization"].split()[1], secret="s" * 32)
    assert principal.sub == "checkin" and principal.roles == {"service"}


@pytest.fixture
def idp():
    provider = FakeIdentityProvider()
    provider.new_key()
    yield provider
    provider.close()


def client_credentials(idp: FakeIdentityProvider, **extra) -> dict:
    return {"auth_token_url": idp.token_url, "auth_client_id": "checkin",
            "auth_client_secret": idp.clients["checkin"]} | extra


async def test_in_production_a_service_calls_another_with_the_identity_providers_token(
        database_urls, idp):
    from registry.app import create_app

    registry = create_app(registry_settings(database_urls["registry"], idp, **PRODUCTION))
    caller = registry_settings(database_urls["registry"], idp,
                               **PRODUCTION | client_credentials(idp))
    auth = service_auth(caller, sub="checkin")
    async with rolled_back(registry), make_client(
            "http://registry", transport=httpx.ASGITransport(app=registry), auth=auth) as client:
        for _ in range(3):
            assert (await client.get("/v1/changes")).status_code == 200
    assert idp.paths == ["/token", "/jwks"]  # one token for all three calls, keys cached


def test_production_without_client_credentials_refuses_to_make_service_auth(database_urls, idp):
    settings = registry_settings(database_urls["registry"], idp, **PRODUCTION)
    with pytest.raises(ValueError, match="WAYMARK_AUTH_CLIENT_ID"):
        service_auth(settings, sub="checkin")


def test_development_keeps_minting_its_own_service_tokens(database_urls):
    auth = service_auth(registry_settings(database_urls["registry"], None), sub="checkin")
    assert isinstance(auth, ServiceTokenAuth)


async def test_the_token_is_renewed_shortly_before_it_expires(idp):
    now = [0.0]
    idp.expires_in = 300  # renewed 30 s (a tenth) before
    auth = ClientCredentialsAuth(token_url=idp.token_url, client_id="checkin",
                                 client_secret=idp.clients["checkin"], clock=lambda: now[0])
    seen: list[str] = []
    transport = httpx.MockTransport(
        lambda r: seen.append(r.headers["Authorization"]) or httpx.Response(200))
    async with httpx.AsyncClient(transport=transport, base_url="http://x", auth=auth) as client:
        for moment in (0.0, 269.0, 271.0, 280.0):
            now[0] = moment
            await client.get("/")
    assert idp.paths == ["/token", "/token"]
    assert seen[0] == seen[1] != seen[2] == seen[3]


async def test_a_401_drops_the_token_and_retries_once_with_a_new_one(idp):
    auth = ClientCredentialsAuth(token_url=idp.token_url, client_id="checkin",
                                 client_secret=idp.clients["checkin"])
    seen: list[str] = []

    def refuse_all(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse_all), base_url="http://x",
                                 auth=auth) as client:
        assert (await client.get("/")).status_code == 401
    assert idp.paths == ["/token", "/token"] and len(seen) == 2 and seen[0] != seen[1]


async def test_refused_client_credentials_raise_an_http_error_without_the_secret(idp):
    auth = ClientCredentialsAuth(token_url=idp.token_url, client_id="checkin",
                                 client_secret="wrong-secret")
    async with httpx.AsyncClient(
            transport=httpx.MockTransport(lambda r: httpx.Response(200)), base_url="http://x",
            auth=auth) as client:
        with pytest.raises(httpx.HTTPError, match="HTTP 401 \\(invalid_client\\)") as caught:
            await client.get("/")
    assert isinstance(caught.value, ServiceTokenError)
    assert "wrong-secret" not in str(caught.value)

