"""JWT verification and role checks.

Tokens are HS256 with ``WAYMARK_AUTH_SECRET``; claims ``sub``, ``roles``, ``exp``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.warnings import InsecureKeyLengthWarning

from shared.errors import Forbidden, Unauthorized

# The contract fixes a short development secret; settings refuse a short one in
# production and warn loudly at start-up, so PyJWT's per-call warning is noise.
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)


class Role(StrEnum):
    caseworker = "caseworker"
    officer = "officer"  # reporting-centre staff
    supervisor = "supervisor"
    authority = "authority"  # aggregates only, never personal data
    service = "service"  # service to service


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    roles: frozenset[str]

    def has(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


def issue_token(*, secret: str, sub: str, roles: list[str], ttl: timedelta,
                issued_at: datetime | None = None) -> str:
    """A signed token; ``issued_at`` defaults to now."""
    unknown = set(roles) - set(Role)
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
    now = issued_at or datetime.now(UTC)
    claims = {"sub": sub, "roles": list(roles), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(token: str, *, secret: str, leeway: float = 30.0) -> Principal:
    """The token's principal, or 401. ``leeway`` seconds of clock skew between the
    issuer and this host are forgiven on ``exp``, ``iat`` and ``nbf``: without it one
    second of drift between two hosts turns service calls into 401s."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]},
            leeway=leeway,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired.", headers=_challenge("invalid_token")) from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The token is not valid.", headers=_challenge("invalid_token")) from exc
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("The token's roles claim must be a list.",
                           headers=_challenge("invalid_token"))
    sub = str(claims["sub"])
    # The subject is stored as an actor and a caseworker: a signed NUL or line break in
    # it would otherwise reach the database (a 500 on PostgreSQL) or forge a log line.
    if not 0 < len(sub) <= 128 or not sub.isprintable():
        raise Unauthorized("The token's subject must be 1 to 128 printable characters.",
                           headers=_challenge("invalid_token"))
    return Principal(sub=sub, roles=frozenset(roles) & set(Role))


def _challenge(error: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="waymark"' + (f', error="{error}"' if error else "")
    return {"WWW-Authenticate": value}


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required.", headers=_challenge())
    settings = request.app.state.settings
    return decode_token(credentials.credentials, secret=settings.auth_secret,
                        leeway=settings.auth_leeway_seconds)


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role | str):
    """A dependency that answers 403 unless the caller holds one of ``roles``."""
    allowed = frozenset(str(r) for r in roles)

    async def check(principal: CurrentUser) -> Principal:
        if not principal.has(*allowed):
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(allowed))}.")
        return principal

    return Depends(check)
