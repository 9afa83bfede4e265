"""The inter-service client retries a bounded number of times, and only when safe."""

from __future__ import annotations

import httpx
import pytest

from shared.auth import decode_token
from shared.http import RetryTransport, ServiceTokenAuth, make_client


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
