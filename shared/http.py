"""The httpx client every service uses to call another: timeouts and bounded retries."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta

import httpx

from shared.auth import issue_token

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class RetryTransport(httpx.AsyncBaseTransport):
    """Retries idempotent requests on connection errors and 429/502/503/504, with
    exponential backoff and full jitter, at most ``attempts`` times in all."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport | None = None, *, attempts: int = 3,
        backoff: float = 0.2, max_backoff: float = 2.0,
    ) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._max_backoff = max_backoff

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        retryable = request.method in IDEMPOTENT_METHODS
        for attempt in range(1, self._attempts + 1):
            last = attempt == self._attempts or not retryable
            try:
                response = await self._inner.handle_async_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout,
                    httpx.RemoteProtocolError):
                if last:
                    raise
            else:
                if last or response.status_code not in RETRYABLE_STATUS:
                    return response
                await response.aclose()
            delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
            await asyncio.sleep(random.uniform(0, delay))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._inner.aclose()


class ServiceTokenAuth(httpx.Auth):
    """Signs each request with a short-lived ``service`` token, minted as needed."""

    def __init__(self, *, secret: str, sub: str, ttl: timedelta = timedelta(minutes=5)) -> None:
        self._secret, self._sub, self._ttl = secret, sub, ttl
        self._token: str | None = None
        self._renew_at = 0.0

    def auth_flow(self, request: httpx.Request):
        now = time.monotonic()
        if self._token is None or now >= self._renew_at:
            self._token = issue_token(secret=self._secret, sub=self._sub, roles=["service"],
                                      ttl=self._ttl)
            self._renew_at = now + self._ttl.total_seconds() / 2
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def make_client(
    base_url: str, *, timeout: float = 5.0, attempts: int = 3, auth: httpx.Auth | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient for calling another Waymark service. Create it in a lifespan."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
        transport=RetryTransport(transport, attempts=attempts),
        auth=auth,
        headers={"User-Agent": "waymark"},
    )
