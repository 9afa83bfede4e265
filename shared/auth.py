"""JWT verification and role checks.

Two kinds of bearer token are accepted:

- from the organisation's identity provider: RS256 or ES256, verified against its JWKS
  (``WAYMARK_AUTH_JWKS_URL``, fetched by PyJWT's ``PyJWKClient`` and cached), with the
  configured issuer and audience; the roles come from ``WAYMARK_AUTH_ROLES_CLAIM``;
- development tokens: HS256 with ``WAYMARK_AUTH_SECRET`` (claims ``sub``, ``roles``,
  ``iat``, ``exp``), accepted only when ``WAYMARK_ENV`` is ``development`` or ``test``.

Either kind must carry ``sub``, ``iat`` and ``exp``, and live (``exp - iat``) no longer
than the maximum for its holder: one for people, a shorter one for the ``service`` role.
Anything else answers 401; an identity provider whose keys cannot be fetched, 503.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.warnings import InsecureKeyLengthWarning

from shared.errors import Forbidden, ServiceUnavailable, Unauthorized

if TYPE_CHECKING:
    from shared.config import ServiceSettings

log = logging.getLogger("waymark.auth")

# The contract fixes a short development secret; settings refuse a short one in
# production and warn loudly at start-up, so PyJWT's per-call warning is noise.
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

# What the identity provider may sign with. Never HS256 there (a public key used as an
# HMAC secret forges anything) and never "none".
PROVIDER_ALGORITHMS = frozenset({"RS256", "ES256"})
# How long the JWKS is cached before it is fetched again; a new key id is fetched sooner.
JWKS_CACHE_SECONDS = 300
JWKS_TIMEOUT_SECONDS = 5


class Role(StrEnum):
    caseworker = "caseworker"
    officer = "officer"  # reporting-centre staff
    supervisor = "supervisor"
    authority = "authority"  # aggregates only, never personal data
    service = "service"  # service to service


_ROLES = frozenset(Role)


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """The longest lifetime (``exp - iat``) accepted: for people, and for any token
    that carries the ``service`` role (services renew theirs without anyone typing)."""

    person: timedelta = timedelta(hours=12)
    service: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Lifetimes:
        return cls(person=timedelta(hours=settings.auth_max_token_hours),
                   service=timedelta(hours=settings.auth_max_service_token_hours))

    def limit(self, roles: Collection[str]) -> timedelta:
        return self.service if Role.service in roles else self.person


def issue_token(*, secret: str, sub: str, roles: list[str], ttl: timedelta,
                issued_at: datetime | None = None) -> str:
    """A signed development (HS256) token; ``issued_at`` defaults to now."""
    unknown = set(roles) - _ROLES
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
    now = issued_at or datetime.now(UTC)
    claims = {"sub": sub, "roles": list(roles), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(token: str, *, secret: str, leeway: float = 30.0,
                 lifetimes: Lifetimes = Lifetimes()) -> Principal:
    """A development token's principal, or 401. ``leeway`` seconds of clock skew
    between the issuer and this host are forgiven on ``exp``, ``iat`` and ``nbf``:
    without it one second of drift between two hosts turns service calls into 401s."""
    claims = _verified_claims(token, secret, algorithms=["HS256"], leeway=leeway)
    return _principal(claims, roles_claim="roles", lifetimes=lifetimes)


class TokenVerifier:
    """Verifies bearer tokens as the settings say. Keep one per app: it holds the
    JWKS cache, so the identity provider is asked at most every few minutes, and for
    an unknown key id (a rotated key) at most once per cooldown."""

    def __init__(
        self, *, development_secret: str | None, jwks_url: str | None = None,
        issuer: str | None = None, audience: Collection[str] = (), roles_claim: str = "roles",
        lifetimes: Lifetimes = Lifetimes(), leeway: float = 30.0,
        jwks_refresh_cooldown: float = 30.0,
    ) -> None:
        if jwks_url and not (issuer and audience):
            raise ValueError("tokens from a JWKS need an issuer and an audience")
        self._secret = development_secret
        self._jwks = jwt.PyJWKClient(
            jwks_url, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS,
            cooldown_duration=jwks_refresh_cooldown,
        ) if jwks_url else None
        self._issuer, self._audience = issuer, list(audience)
        self._roles_claim, self._lifetimes, self._leeway = roles_claim, lifetimes, leeway

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenVerifier:
        audience = [a.strip() for a in (settings.auth_audience or "").split(",") if a.strip()]
        return cls(
            development_secret=settings.auth_secret if settings.accepts_development_tokens
            else None,
            jwks_url=settings.auth_jwks_url, issuer=settings.auth_issuer, audience=audience,
            roles_claim=settings.auth_roles_claim, leeway=settings.auth_leeway_seconds,
            lifetimes=Lifetimes.from_settings(settings),
            jwks_refresh_cooldown=settings.auth_jwks_refresh_cooldown_seconds,
        )

    async def principal(self, token: str) -> Principal:
        """The token's principal; 401 for any token not acceptable here."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:
            raise _invalid("The token is not valid.") from exc
        if algorithm == "HS256" and self._secret is not None:
            return decode_token(token, secret=self._secret, leeway=self._leeway,
                                lifetimes=self._lifetimes)
        if algorithm in PROVIDER_ALGORITHMS and self._jwks is not None:
            key = await self._signing_key(token)
            claims = _verified_claims(token, key, algorithms=[algorithm], leeway=self._leeway,
                                      issuer=self._issuer, audience=self._audience)
            return _principal(claims, roles_claim=self._roles_claim, lifetimes=self._lifetimes)
        raise _invalid("The token's signing algorithm is not accepted here.")

    async def _signing_key(self, token: str) -> jwt.PyJWK:
        assert self._jwks is not None
        try:
            # PyJWKClient fetches with blocking urllib: off the event loop.
            return await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError) as exc:
            log.warning("the identity provider's keys could not be read: %s", exc)
            raise ServiceUnavailable(
                "The identity provider's signing keys could not be fetched; try again shortly.",
                headers={"Retry-After": "5"}) from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise _invalid("The token's signing key is not known.") from exc


def _verified_claims(token: str, key: Any, *, algorithms: list[str], leeway: float,
                     issuer: str | None = None, audience: list[str] | None = None) -> dict:
    required = ["exp", "iat", "sub"] + (["iss", "aud"] if audience else [])
    try:
        return jwt.decode(token, key, algorithms=algorithms, leeway=leeway, issuer=issuer,
                          audience=audience or None, options={"require": required})
    except jwt.ExpiredSignatureError as exc:
        raise _invalid("The token has expired.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _invalid(f"The token has no {exc.claim!r} claim.") from exc
    except jwt.InvalidAudienceError as exc:
        raise _invalid("The token is not meant for this service (aud).") from exc
    except jwt.InvalidIssuerError as exc:
        raise _invalid("The token's issuer (iss) is not trusted here.") from exc
    except jwt.InvalidTokenError as exc:
        raise _invalid("The token is not valid.") from exc


def _principal(claims: dict, *, roles_claim: str, lifetimes: Lifetimes) -> Principal:
    roles = _claim_at(claims, roles_claim)
    if roles is None:
        roles = []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _invalid(f"The token's roles claim ({roles_claim}) must be a list of strings.")
    sub = str(claims["sub"])
    # The subject is stored as an actor and a caseworker: a signed NUL or line break in
    # it would otherwise reach the database (a 500 on PostgreSQL) or forge a log line.
    if not 0 < len(sub) <= 128 or not sub.isprintable():
        raise _invalid("The token's subject must be 1 to 128 printable characters.")
    # Roles the provider manages for other applications (offline_access...) are not ours.
    granted = frozenset(roles) & _ROLES
    limit = lifetimes.limit(granted)
    if float(claims["exp"]) - float(claims["iat"]) > limit.total_seconds():
        raise _invalid(f"The token lives longer (exp - iat) than the "
                       f"{int(limit.total_seconds())} seconds accepted here.")
    return Principal(sub=sub, roles=granted)


def _claim_at(claims: dict, path: str) -> Any:
    """The claim named ``path`` or, failing that, the value at its dotted path
    (``realm_access.roles``); None where there is none."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers=_challenge("invalid_token"))


def _challenge(error: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="waymark"' + (f', error="{error}"' if error else "")
    return {"WWW-Authenticate": value}


_bearer = HTTPBearer(auto_error=False)


def _verifier(request: Request) -> TokenVerifier:
    state = request.app.state
    verifier = getattr(state, "token_verifier", None)
    if verifier is None:
        verifier = state.token_verifier = TokenVerifier.from_settings(state.settings)
    return verifier


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required.", headers=_challenge())
    return await _verifier(request).principal(credentials.credentials)


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role | str):
    """A dependency that answers 403 unless the caller holds one of ``roles``."""
    allowed = frozenset(str(r) for r in roles)

    async def check(principal: CurrentUser) -> Principal:
        if not principal.has(*allowed):
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(allowed))}.")
        return principal

    return Depends(check)
