"""The httpx client every service uses to call another: timeouts, bounded retries, and
the service's own token (``service_auth``)."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta
from urllib.parse import quote

import httpx

from shared.auth import issue_token
from shared.config import ServiceSettings
from shared.logging import request_id

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


def service_auth(settings: ServiceSettings, *, sub: str) -> httpx.Auth:
    """How this service proves itself to another: a token from the identity provider
    by client credentials when ``WAYMARK_AUTH_TOKEN_URL`` is set (required in
    production, where development tokens are refused), else a development token."""
    if settings.uses_client_credentials:
        return ClientCredentialsAuth(
            token_url=settings.auth_token_url, client_id=settings.auth_client_id,
            client_secret=settings.auth_client_secret, scope=settings.auth_client_scope,
            timeout=settings.http_timeout_seconds)
    if not settings.accepts_development_tokens:
        raise ValueError("calls between services in production need WAYMARK_AUTH_TOKEN_URL, "
                         "WAYMARK_AUTH_CLIENT_ID and WAYMARK_AUTH_CLIENT_SECRET")
    return ServiceTokenAuth(secret=settings.auth_secret, sub=sub)


class ServiceTokenAuth(httpx.Auth):
    """Signs each request with a short-lived development ``service`` token (HS256),
    minted as needed."""

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


class ServiceTokenError(httpx.HTTPError):
    """The identity provider gave no token (a feed poller backs off as for any
    ``httpx.HTTPError``)."""


class ClientCredentialsAuth(httpx.Auth):
    """Bearer tokens from the identity provider by the OAuth2 client-credentials grant
    (RFC 6749 section 4.4), the client authenticated with HTTP Basic (section 2.3.1).
    A token is kept until shortly before it expires (a tenth of its life before, at
    most a minute), fetched by one caller while concurrent ones wait, and dropped when
    a call answers 401, which is then retried once with a new token. Async clients only."""

    requires_response_body = True

    def __init__(self, *, token_url: str, client_id: str, client_secret: str,
                 scope: str | None = None, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        credentials = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        self._headers = {"Authorization": f"Basic {base64.b64encode(credentials.encode()).decode()}",
                         "Accept": "application/json"}
        self._form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
        self._token_url, self._timeout, self._clock = token_url, timeout, clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    def sync_auth_flow(self, request: httpx.Request):
        raise RuntimeError("ClientCredentialsAuth works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request,
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for attempt in range(2):
            token = await self._current_token()
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401 or attempt:
                return
            if self._token == token:  # refused: another caller may already have renewed
                self._token = None

    async def _current_token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, lifetime = await self._fetch()
                self._renew_at = self._clock() + lifetime - min(60.0, lifetime / 10)
            return self._token

    async def _fetch(self) -> tuple[str, float]:
        async with httpx.AsyncClient(timeout=self._timeout) as idp:
            response = await idp.post(self._token_url, data=self._form, headers=self._headers)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise ServiceTokenError(f"the identity provider gave no token: HTTP "
                                    f"{response.status_code}" + (f" ({error!s:.60})" if error else ""))
        token, lifetime = body.get("access_token"), body.get("expires_in", 300)
        if not isinstance(token, str) or not token or isinstance(lifetime, bool) \
                or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise ServiceTokenError("the identity provider's token answer has no usable "
                                    "access_token and expires_in")
        return token, float(lifetime)


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
        event_hooks={"request": [_pass_request_id]},
    )


async def _pass_request_id(request: httpx.Request) -> None:
    """A call made while serving a request carries that request's id, so one story can
    be followed across the services' logs."""
    if (current := request_id.get()) is not None:
        request.headers["X-Request-ID"] = current
